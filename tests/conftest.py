"""Shared fixtures: database backends (SQLite and PostgreSQL), a live server per test, qcow2 makers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from scp_images.config import Settings
from scp_images.store.sql.database import migrate
from tests.support import postgres, seaweed
from tests.support.s3 import start_moto_server
from tests.support.stack import Stack, start_stack
from tests.support.tools import missing, require_qemu, run_tool

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated database to clone per test; skipped (or failed in CI) when PostgreSQL is down."""
    problem = postgres.reachable()
    if problem is not None:
        message = (
            f"PostgreSQL at {postgres.admin_url()} is not reachable ({problem}); "
            "set SCP_IMAGES_TEST_POSTGRES_URL"
        )
        missing(message, required=postgres.required())
    url = postgres.create_database()
    engine = create_engine(url)
    migrate(engine)
    engine.dispose()
    yield str(url.rsplit("/", 1)[1])
    postgres.drop_database(url)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """One SeaweedFS (a real object store) on loopback per session, i.e. per xdist worker; each test makes
    its own buckets. Skipped with the reason when weed is missing or will not start, failed under CI."""
    try:
        server = seaweed.start_seaweed()
    except seaweed.SeaweedUnavailable as exc:
        missing(f"SeaweedFS is unavailable ({exc})", required=seaweed.required())
    try:
        yield server.endpoint_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server, only for error answers SeaweedFS never gives (see the tests that use it)."""
    endpoint_url, stop = start_moto_server()
    try:
        yield endpoint_url
    finally:
        stop()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta.db'}"
        return
    template = request.getfixturevalue("postgres_template")
    url = postgres.create_database(template)
    yield url
    postgres.drop_database(url)


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A migrated PostgreSQL database of the test's own, for tests about PostgreSQL only."""
    url = postgres.create_database(postgres_template)
    yield url
    postgres.drop_database(url)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def stack(settings: Settings) -> Iterator[Stack]:
    running = start_stack(settings)
    yield running
    running.stop()


def run(*args: str) -> str:
    """A tool's stdout (qemu-img, qemu-io: retried on transient failures, see ``run_tool``)."""
    return run_tool(*args)


@pytest.fixture
def make_qcow2(tmp_path: Path) -> Callable[..., Path]:
    """Make a real qcow2 with qemu-img (and some data written with qemu-io)."""
    require_qemu()

    def make(name: str = "disk.qcow2", size: str = "64M", *options: str, data: bool = True) -> Path:
        path = tmp_path / name
        run("qemu-img", "create", "-q", "-f", "qcow2", *options, str(path), size)
        if data:
            run("qemu-io", "-c", "write -P 0x5a 0 1M", "-c", "write -P 0xa5 4M 512k", str(path))
        return path

    return make


def qemu_virtual_size(path: Path) -> int:
    return int(json.loads(run("qemu-img", "info", "--output=json", str(path)))["virtual-size"])
