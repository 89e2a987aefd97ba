"""A seeded live server per module and database backend, and a raw HTTP client without keep-alive."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conformance.seed import Seeded, start_seeded
from tests.hostile.wire import client
from tests.support import postgres


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    more = {}
    database = None
    if request.param == "postgres":
        database = postgres.create_database(request.getfixturevalue("postgres_template"))
        more["database_url"] = database
    running = start_seeded(tmp_path_factory.mktemp(f"hostile-{request.param}"), **more)
    yield running
    running.stack.stop()
    if database is not None:
        postgres.drop_database(database)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with client() as raw:
        yield raw
