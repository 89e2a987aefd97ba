"""A seeded live server per module and database backend, and a raw HTTP client without keep-alive."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conformance.seed import Seeded, seeded_stack
from tests.hostile.wire import client


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    data_dir = tmp_path_factory.mktemp(f"hostile-{request.param}")
    with seeded_stack(request, data_dir, request.param) as running:
        yield running


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with client() as raw:
        yield raw
