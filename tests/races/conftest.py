from __future__ import annotations

from typing import Any

import pytest

from tests.support.s3 import s3_client


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    return s3_client(s3_endpoint)
