"""Several real ``scp-images serve`` processes on one database (SQLite file or PostgreSQL), reached as one
public URL the way a proxy in front of them is: requests are signed for ``PUBLIC_URL`` and sent to each."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from scp_images.app import build_components
from scp_images.config import Settings
from scp_images.signing import sign_request
from tests.support.process import READY_SECONDS, ServerProcess, settings_env
from tests.support.stack import Key

PUBLIC_URL = "http://images.test"
VERSION = ("Scp-Api-Version", "virtualserver 1.3")


@pytest.fixture
def shared_settings(settings: Settings) -> Settings:
    """Servers that run no import jobs (nothing here imports) and answer for ``PUBLIC_URL``."""
    return settings.model_copy(update={"public_urls": [PUBLIC_URL], "run_import_jobs": False})


def make_key(settings: Settings, name: str = "procs") -> Key:
    parts = build_components(settings)
    try:
        account = parts.accounts.create_account(name)
        record = parts.accounts.create_key(account.id, f"{name}@example.com")
    finally:
        parts.close()
    return Key(record.access_key, record.secret_key, account.id, record.user_name)


StartServers = Callable[..., list[ServerProcess]]


@pytest.fixture
def start_servers(tmp_path: Path) -> Iterator[StartServers]:
    """``start_servers(settings, n, *flags)``: n ``serve`` processes, stopped after the test."""
    with ExitStack() as stack:
        started = 0

        def start(settings: Settings, count: int = 2, *flags: str, **env: str) -> list[ServerProcess]:
            nonlocal started
            servers = []
            for _ in range(count):
                started += 1
                log = tmp_path / f"server{started}.log"
                # spawned worker processes import everything again: slow on a loaded machine
                ready = READY_SECONDS * (3 if "--workers" in flags else 1)
                server = ServerProcess(settings_env(settings, **env), log, flags=flags, ready_seconds=ready)
                stack.callback(server.stop)
                servers.append(server)
            return servers

        yield start


def signed(method: str, path: str, key: Key, **params: str) -> tuple[str, list[tuple[str, str]]]:
    """The path (with its query) and the headers of a request signed for ``PUBLIC_URL``."""
    target = httpx.URL(PUBLIC_URL + path, params=params or None)
    headers = sign_request(method, str(target), key.access_key, key.secret_key).as_dict()
    return target.raw_path.decode(), [VERSION, *headers.items()]


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])
