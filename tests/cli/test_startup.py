"""Start-up on shared infrastructure: processes starting together migrate once, a schema older than the code
is refused, and only the embedded default (or ``serve --demo``) makes a demo account."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from scp_images.app import build_components
from scp_images.cli import admin
from scp_images.config import Settings
from scp_images.store.sql import database
from scp_images.store.sql.database import migrate
from tests.support import postgres
from tests.support.together import start_together

PROCESSES = 6
THREADS = 8


def code_head() -> str:
    config = Config()
    config.set_main_option("script_location", str(database._MIGRATIONS))
    (head,) = ScriptDirectory.from_config(config).get_heads()
    return str(head)


@pytest.fixture
def fresh_database_url(request: pytest.FixtureRequest, database_url: str) -> Iterator[str]:
    """``database_url`` but empty: no schema at all (the PostgreSQL one is not cloned from the template)."""
    if database_url.startswith("sqlite"):
        yield database_url
        return
    url = postgres.create_database()
    try:
        yield url
    finally:
        postgres.drop_database(url)


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCP_IMAGES_")}
    env.update(SCP_IMAGES_DATA_DIR=str(tmp_path / "data"), SCP_IMAGES_DATABASE_URL=database_url)
    return env


def test_processes_starting_together_migrate_once(tmp_path: Path, fresh_database_url: str) -> None:
    env = _env(tmp_path, fresh_database_url)
    # account create: the command that may create a database (a list refuses to make one)
    command = ["admin", "account", "create", "--name", "ops"]
    procs = start_together(tmp_path / "go", [command] * PROCESSES, env)
    results = [proc.communicate(timeout=120) for proc in procs]

    failures = [err for proc, (_, err) in zip(procs, results, strict=True) if proc.returncode != 0]
    assert not failures, failures[0]
    engine = create_engine(fresh_database_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert versions == [code_head()]
    finally:
        engine.dispose()


def test_first_account_is_made_once_when_many_ask_at_once(settings: Settings) -> None:
    parts = build_components(settings)
    barrier = threading.Barrier(THREADS)

    def ask() -> object:
        barrier.wait(timeout=30)
        return parts.accounts.create_first_account("demo", "demo@example.com")

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            made = [result for result in pool.map(lambda _: ask(), range(THREADS)) if result is not None]
        assert len(made) == 1
        assert [account.name for account in parts.accounts.list_accounts()] == ["demo"]
        assert len(parts.accounts.list_keys()) == 1
    finally:
        parts.close()


def _revisions(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def test_a_schema_newer_than_the_code_is_served_as_it_is(database_url: str) -> None:
    """A rolling upgrade: a newer release migrated the database while this one still runs."""
    engine = create_engine(database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_a_newer_release'"))

        migrate(engine)
    finally:
        engine.dispose()

    assert _revisions(database_url) == ["9999_from_a_newer_release"]


def test_a_schema_left_older_than_the_code_refuses_to_start(
    tmp_path: Path, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database.command, "upgrade", lambda *args: None)  # a migration that did nothing

    options = ["--database-url", fresh_database_url, "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(admin.app, [*options, "account", "create", "--name", "x"])

    assert result.exit_code == 1, result.output
    expected = f"the database schema is at revision none, older than the {code_head()}"
    assert expected in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("current", "problem"),
    [
        (("0002",), None),
        (("9999",), None),  # unknown here: a newer release's
        (("0002", "9999"), None),
        (("0001",), "at revision 0001, older than the 0002"),
        ((), "at revision none, older than the 0002"),
    ],
)
def test_schema_problem(current: tuple[str, ...], problem: str | None) -> None:
    found = database.schema_problem(current, heads=("0002",), known={"0001", "0002"})

    assert (found is None) if problem is None else (found is not None and problem in found)
