"""`scp-images serve` on first start: the embedded default (or `--demo`) prints a demo key that works, and
only the first time; shared infrastructure (PostgreSQL) starts with no account and says how to make one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import typer
from sqlalchemy import create_engine, make_url, text

from scp_images.cli.server import is_embedded, worker_count
from scp_images.client import Client
from scp_images.config import Settings
from tests.support.process import read_until
from tests.support.stack import free_port
from tests.support.together import start_together
from tests.support.tools import wait_until

SCP_IMAGES = [sys.executable, "-m", "scp_images.cli"]
SERVERS = 4
CONSOLE = ("--log-format", "console")


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCP_IMAGES_")}
    return {**env, **{f"SCP_IMAGES_{name.upper()}": value for name, value in settings.items()}}


def _serve(data_dir: Path, port: int, *flags: str, **settings: str) -> subprocess.Popen[str]:
    """The banner and the listening line are log lines (stderr), readable with ``--log-format console``."""
    return subprocess.Popen(
        [*SCP_IMAGES, "serve", "--port", str(port), "--data-dir", str(data_dir), *CONSOLE, *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(**settings),
    )


def _read_until_listening(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    return read_until(proc.stderr, "listening on")


def _wait_healthy(port: int) -> None:
    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, what="scp-images serve", timeout=60)


def test_first_start_prints_a_working_demo_key(tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(tmp_path / "data", port)
    try:
        banner = _read_until_listening(proc)
        access = re.search(r"access key : (\S+)", banner)
        secret = re.search(r"secret key : (\S+)", banner)
        assert access and secret, banner
        assert f"SCP_ENDPOINT=http://127.0.0.1:{port}" in banner and "scp-images image list" in banner
        assert f"console    : http://127.0.0.1:{port}/console\n" in banner
        # Migrating an empty database is one line at the default level, none of alembic's own.
        assert [line for line in banner.splitlines() if "migrat" in line.lower()] == [
            next(line for line in banner.splitlines() if "database: migrated from empty to " in line)
        ], banner
        assert "alembic" not in banner
        _wait_healthy(port)
        with Client(f"http://127.0.0.1:{port}", access[1], secret[1]) as client:
            assert client.images.list() == []
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert (tmp_path / "data" / "scp-images.db").exists()

    proc = _serve(tmp_path / "data", port)
    try:
        later = _read_until_listening(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    # A later start shows no secret, names the console and says how to make a key; nothing to migrate.
    assert secret[1] not in later and "access key :" not in later and "migrat" not in later.lower()
    assert f"Console: http://127.0.0.1:{port}/console" in later
    admin = f"scp-images admin --data-dir {(tmp_path / 'data').resolve()}"
    assert f"{admin} account list" in later
    assert f"{admin} key create --account ACCOUNT_ID --user EMAIL" in later


def _first_banner(data_dir: Path, *flags: str, **settings: str) -> str:
    proc = _serve(data_dir, free_port(), *flags, **settings)
    try:
        return _read_until_listening(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _accounts(url: str) -> list[tuple[str, int]]:
    """(name, number of keys) per account, straight from the database."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = (
                "SELECT a.name, count(k.access_key) FROM accounts a "
                "LEFT JOIN access_keys k ON k.account_id = a.id GROUP BY a.id, a.name"
            )
            return [(name, keys) for name, keys in conn.execute(text(query))]
    finally:
        engine.dispose()


def test_postgres_starts_with_no_account_and_says_how_to_make_one(tmp_path: Path, postgres_url: str) -> None:
    banner = _first_banner(tmp_path / "data", database_url=postgres_url)

    assert "access key :" not in banner and "secret key" not in banner
    assert "No account yet" in banner and "scp-images admin account create --name NAME" in banner
    assert "scp-images admin key create --account ACCOUNT_ID --user EMAIL" in banner
    assert "/console" in banner
    assert _accounts(postgres_url) == []


def test_listening_line_masks_the_database_password(tmp_path: Path, postgres_url: str) -> None:
    with_password = make_url(postgres_url).set(password="hunter2-secret")  # trust auth ignores it
    url = with_password.render_as_string(hide_password=False)

    banner = _first_banner(tmp_path / "data", database_url=url)

    assert "listening on" in banner and "hunter2-secret" not in banner and "***" in banner


def test_demo_flag_makes_a_demo_key_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    port = free_port()
    proc = _serve(tmp_path / "data", port, "--demo", database_url=postgres_url)
    try:
        banner = _read_until_listening(proc)
        access = re.search(r"access key : (\S+)", banner)
        secret = re.search(r"secret key : (\S+)", banner)
        assert access and secret, banner
        assert "scp-images image create --name my-image" in banner  # the tenant's way in, from a file
        assert "--data-dir" not in banner  # the data is not in a data dir
        _wait_healthy(port)
        with Client(f"http://127.0.0.1:{port}", access[1], secret[1]) as client:
            assert client.images.list() == []
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert _accounts(postgres_url) == [("demo", 1)]

    assert "access key :" not in _first_banner(tmp_path / "data", "--demo", database_url=postgres_url)
    assert _accounts(postgres_url) == [("demo", 1)]


def test_demo_flag_leaves_a_database_with_accounts_alone(tmp_path: Path, postgres_url: str) -> None:
    create = [*SCP_IMAGES, "admin", "--database-url", postgres_url, "account", "create", "--name", "ops"]
    subprocess.run(create, check=True, capture_output=True, timeout=60)

    banner = _first_banner(tmp_path / "data", "--demo", database_url=postgres_url)

    assert "access key :" not in banner and "No account yet" not in banner
    assert _accounts(postgres_url) == [("ops", 0)]


def test_servers_starting_together_with_demo_make_one_demo_account(tmp_path: Path, postgres_url: str) -> None:
    commands = [
        ["serve", "--demo", "--log-format", "console", "--port", str(free_port())] for _ in range(SERVERS)
    ]
    env = _env(database_url=postgres_url, data_dir=str(tmp_path / "data"))
    procs = start_together(tmp_path / "go", commands, env)
    try:
        banners = [_read_until_listening(proc) for proc in procs]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=15)

    assert all("listening on" in banner for banner in banners), banners
    assert sum("access key :" in banner for banner in banners) == 1, banners
    assert _accounts(postgres_url) == [("demo", 1)]


@pytest.mark.parametrize(
    ("database_url", "embedded"),
    [
        (None, True),
        ("", True),  # SCP_IMAGES_DATABASE_URL set empty reads as unset everywhere else too
        ("sqlite:///{data}/scp-images.db", True),
        ("sqlite:///{data}/../data/./scp-images.db", True),
        ("sqlite:///{data}/other.db", False),
        ("sqlite://", False),
        ("sqlite:///:memory:", False),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/scp", False),
    ],
)
def test_only_the_data_dirs_own_sqlite_file_is_the_embedded_default(
    tmp_path: Path, database_url: str | None, embedded: bool
) -> None:
    data = tmp_path / "data"
    url = database_url.format(data=data) if database_url is not None else None

    assert is_embedded(Settings(data_dir=data, database_url=url)) is embedded


def test_workers_is_a_number_or_auto() -> None:
    assert worker_count("auto") == (os.cpu_count() or 1)
    assert [worker_count(n) for n in ("1", "2", "256")] == [1, 2, 256]
    for bad in ("0", "-1", "257", "two", "", "٣"):
        with pytest.raises(typer.BadParameter):
            worker_count(bad)


def test_serve_refuses_a_bad_workers_value_before_starting(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*SCP_IMAGES, "serve", "--data-dir", str(tmp_path / "data"), "--workers", "many"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert proc.returncode == 2 and "--workers" in proc.stderr
    assert not (tmp_path / "data").exists()
