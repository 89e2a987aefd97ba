"""The database goes away under load and comes back: requests fail with 503 and Retry-After while it is
down, the service recovers by itself, and nothing committed before is lost."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scp_images.config import Settings
from scp_images.signing import sign_request
from tests.api.helpers import publish
from tests.support import private_postgres
from tests.support.private_postgres import PrivatePostgres
from tests.support.stack import Key, Stack, start_stack
from tests.support.tools import missing, wait_until


@pytest.fixture
def database() -> Iterator[PrivatePostgres]:
    problem = private_postgres.available()
    if problem:
        missing(f"cannot start a private PostgreSQL: {problem}")
    instance = PrivatePostgres()
    instance.start()
    yield instance
    instance.destroy()


class Load:
    """Signed GETs from two threads until stopped; remembers every status and every 503's headers."""

    def __init__(self, stack: Stack, key: Key, path: str) -> None:
        self.url = stack.base_url + path
        self.key = key
        self.statuses: Counter[int] = Counter()
        self.unavailable: list[httpx.Response] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(2)]

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                headers = sign_request("GET", self.url, self.key.access_key, self.key.secret_key).as_dict()
                response = client.get(self.url, headers=headers)
                self.statuses[response.status_code] += 1
                if response.status_code == 503 and len(self.unavailable) < 5:
                    self.unavailable.append(response)
                time.sleep(0.01)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=40)


def test_database_restart_under_load(database: PrivatePostgres, tmp_path: Path, make_qcow2: Any) -> None:
    stack = start_stack(Settings(data_dir=tmp_path / "d", database_url=database.url))
    try:
        key = stack.new_account("load")
        image = publish(stack, make_qcow2(), key.account_id)
        path = f"/v1/images/{image['id']}"
        with Load(stack, key, path) as load:
            wait_until(lambda: load.statuses[200] > 0, what="load answered", timeout=30)
            database.stop("immediate")
            wait_until(lambda: load.statuses[503] > 0, what="load saw the database down", timeout=30)
            down = stack.request("GET", path, key)
            database.start()
            wait_until(
                lambda: stack.request("GET", path, key).status_code == 200,
                what="the service recovered",
                interval=0.2,
            )
            served = load.statuses[200]
            wait_until(lambda: load.statuses[200] > served, what="load served again", timeout=30)
        assert down.status_code == 503, down.text
        assert down.headers["Retry-After"].isdigit()
        assert down.json()["errors"][0]["code"] == "virtualserver.Unavailable"
        assert set(load.statuses) <= {200, 503}, load.statuses
        assert load.statuses[200] > 0 and load.statuses[503] > 0
        assert all(r.headers.get("Retry-After") for r in load.unavailable)
        shown = stack.request("GET", path, key).json()
        assert (shown["checksum"], shown["status"]) == (image["checksum"], "active")
        ready = stack.http.get(stack.base_url + "/readyz")
        assert ready.status_code == 200
    finally:
        stack.stop()


def test_readiness_reports_the_database_down(database: PrivatePostgres, tmp_path: Path) -> None:
    stack = start_stack(Settings(data_dir=tmp_path / "d", database_url=database.url))
    try:
        database.stop("immediate")
        ready = stack.http.get(stack.base_url + "/readyz")
        assert ready.status_code == 503 and ready.json()["database"].startswith("unreachable")
        database.start()
        wait_until(
            lambda: stack.http.get(stack.base_url + "/readyz").status_code == 200,
            what="/readyz ready again",
            timeout=20,
            interval=0.2,
        )
    finally:
        stack.stop()
