"""Start-up failures an operator can fix are ONE line on stderr naming what to check, with exit 1, for
``serve``, ``worker`` and ``admin`` alike (``--debug`` adds the traceback); ``serve`` binds its port before
it makes or prints anything; an empty variable is an unset one; read-only ``admin`` commands never create
a database; connection options are accepted after the subcommand. Real processes throughout."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scp_images.config import Settings

SCP_IMAGES = [sys.executable, "-m", "scp_images.cli"]
TIMEOUT = 120


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCP_IMAGES_", "SCP_"))}
    env["COLUMNS"] = "200"
    env.update({f"SCP_IMAGES_{name.upper()}": value for name, value in settings.items()})
    return env


def _run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCP_IMAGES, *args], cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=TIMEOUT
    )


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The process failed with exactly one line on stderr (returned), no traceback, nothing on stdout."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert proc.stdout == ""
    return lines[0]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound by this test and never listened on: connections to it are refused at once, and no
    other process can take it while the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# --- serve binds first -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "flag"),
    [("serve", "--port"), ("serve --workers 2", "--port"), ("worker", "--metrics-port")],
)
def test_a_busy_port_is_one_line_and_nothing_is_made(tmp_path: Path, command: str, flag: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _run(tmp_path, *command.split(), flag, str(port), "--log-format", "console")

    line = _one_line(proc)
    assert f"port {port}" in line and "in use by another program" in line and line.endswith(flag)
    assert list(tmp_path.iterdir()) == []  # no data dir, no database, no demo secret


# --- the database ----------------------------------------------------------------------------------


COMMANDS = {
    "serve": ["serve", "--port", "0"],
    "worker": ["worker"],
    "admin": ["admin", "account", "list"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unreachable_database_is_one_line_naming_the_setting(
    tmp_path: Path, closed_port: int, command: str
) -> None:
    url = f"postgresql+psycopg://scp:hunter2@127.0.0.1:{closed_port}/scp"
    proc = _run(tmp_path, *COMMANDS[command], env=_env(database_url=url))

    line = _one_line(proc)
    assert "SCP_IMAGES_DATABASE_URL" in line and f"127.0.0.1:{closed_port}" in line
    assert "refused" in line.lower() and "hunter2" not in line


def test_debug_shows_the_traceback_behind_the_line(tmp_path: Path, closed_port: int) -> None:
    url = f"postgresql+psycopg://scp@127.0.0.1:{closed_port}/scp"
    for args in (["--debug", "admin", "account", "list"], ["admin", "account", "list", "--debug"]):
        proc = _run(tmp_path, *args, env=_env(database_url=url))
        assert proc.returncode == 1 and "Traceback" in proc.stderr, proc.stderr
        assert proc.stderr.rstrip().splitlines()[-1].startswith("error: cannot reach the database")

    proc = _run(tmp_path, "admin", "account", "list", env=_env(database_url=url, debug="1"))
    assert "Traceback" in proc.stderr


@pytest.mark.parametrize(
    "url",
    [
        "nonsense",
        "nosuchdb://host/name",
        "postgresql://u:hunter2@host/name",  # psycopg2's scheme: not installed
        "postgresql+psycopg://u:hunter2@host:port/name",
        "u:hunter2@host/name",
    ],
)
def test_a_malformed_database_url_is_one_line(tmp_path: Path, url: str) -> None:
    line = _one_line(_run(tmp_path, "admin", "account", "list", env=_env(database_url=url)))

    assert "SCP_IMAGES_DATABASE_URL" in line and "postgresql+psycopg://" in line and "hunter2" not in line


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_setting_value_names_the_variable_the_value_and_what_is_expected(
    tmp_path: Path, command: str
) -> None:
    proc = _run(tmp_path, *COMMANDS[command], env=_env(rate_limit="fast"))

    line = _one_line(proc)
    assert "SCP_IMAGES_RATE_LIMIT='fast'" in line and "number" in line
    assert list(tmp_path.iterdir()) == []


# --- empty variables -------------------------------------------------------------------------------


def _env_names() -> list[str]:
    return [f"SCP_IMAGES_{name.upper()}" for name in Settings.model_fields]


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_each_setting_set_empty_reads_as_unset(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    for name in _env_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(f"SCP_IMAGES_{field.upper()}", "")

    default = Settings.model_fields[field].get_default(call_default_factory=True)
    assert getattr(Settings(), field) == default


def test_every_setting_set_empty_at_once_starts_the_operator_commands(tmp_path: Path) -> None:
    env = {**_env(), **dict.fromkeys(_env_names(), "")}
    data = tmp_path / "data"

    created = _run(tmp_path, "admin", "--data-dir", str(data), "account", "create", "--name", "ops", env=env)
    listed = _run(tmp_path, "admin", "account", "list", "--data-dir", str(data), env=env)

    assert created.returncode == 0, created.stderr
    assert listed.returncode == 0 and "ops" in listed.stdout, listed.stderr


# --- the data dir and the object store --------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_data_dir_that_cannot_be_made_is_one_line(tmp_path: Path, command: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    args = COMMANDS[command] if command != "admin" else ["admin", "account", "create", "--name", "ops"]

    line = _one_line(_run(tmp_path, *args, env=_env(data_dir=str(blocker / "data"))))

    assert "SCP_IMAGES_DATA_DIR" in line and str(blocker / "data") in line


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_an_unreachable_object_store_is_one_line(tmp_path: Path, closed_port: int, command: str) -> None:
    env = _env(
        data_dir=str(tmp_path / "data"),
        blob_url="s3://images",
        s3_endpoint_url=f"http://127.0.0.1:{closed_port}",
        s3_access_key_id="key",
        s3_secret_access_key="secret",
        s3_region="us-east-1",
    )
    line = _one_line(_run(tmp_path, *COMMANDS[command], env=env))

    assert "SCP_IMAGES_S3_ENDPOINT_URL" in line and f"127.0.0.1:{closed_port}" in line


# --- no silent data dir ----------------------------------------------------------------------------

READ_ONLY = [
    ["account", "list"],
    ["key", "list"],
    ["source", "list"],
    ["quota", "show", "--account", "0" * 32],
    ["audit", "list"],
    ["audit", "export", "--since", "2020-01-01"],
    ["scrub"],
    ["key", "disable", "AKEY"],
]


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_a_command_that_needs_a_database_never_makes_one(tmp_path: Path, args: list[str]) -> None:
    line = _one_line(_run(tmp_path, "admin", *args))

    assert "no database at ./scp-images-data/scp-images.db" in line
    assert "--data-dir" in line and "SCP_IMAGES_DATABASE_URL" in line
    assert list(tmp_path.iterdir()) == []


def test_the_command_that_makes_a_database_says_so_once(tmp_path: Path) -> None:
    first = _run(tmp_path, "admin", "account", "create", "--name", "ops", "--json")
    second = _run(tmp_path, "admin", "account", "create", "--name", "dev", "--json")

    assert first.returncode == 0 and first.stderr == "created a new database in ./scp-images-data\n"
    assert second.returncode == 0 and second.stderr == ""
    assert (tmp_path / "scp-images-data" / "scp-images.db").is_file()


# --- options where people type them ----------------------------------------------------------------


def test_admin_connection_options_before_or_after_the_subcommand(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    made = _run(tmp_path, "admin", "account", "create", "--name", "ops", "--data-dir", data)
    assert made.returncode == 0, made.stderr

    for args in (
        ["admin", "--data-dir", data, "account", "list"],
        ["admin", "account", "list", "--data-dir", data],
        ["admin", "account", "--data-dir", data, "list"],
        ["admin", "account", "list", f"--data-dir={data}", "--json"],
        ["admin", "account", "list", "--database-url", f"sqlite:///{data}/scp-images.db"],
    ):
        proc = _run(tmp_path, *args)
        assert proc.returncode == 0 and "ops" in proc.stdout, (args, proc.stderr)


def test_image_connection_options_after_the_subcommand(tmp_path: Path, closed_port: int) -> None:
    options = ["--endpoint", f"http://127.0.0.1:{closed_port}", "--access-key", "AK", "--secret-key", "SK"]
    proc = _run(tmp_path, "image", "list", *options, "--language", "en-US")

    assert proc.returncode == 1 and "No such option" not in proc.stderr
    assert str(closed_port) in proc.stderr  # it used the endpoint given after the subcommand
