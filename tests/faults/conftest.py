"""Fixtures of the fault tests: a slow HTTPS source, settings with short heartbeats, and a key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scp_images.app import build_components
from scp_images.config import Settings
from tests.support.slow_source import SlowSource
from tests.support.stack import Key


@pytest.fixture
def source(tmp_path: Path) -> Iterator[SlowSource]:
    running = SlowSource(tmp_path / "tls")
    yield running
    running.stop()


@pytest.fixture
def crash_settings(settings: Settings, source: SlowSource) -> Settings:
    return settings.model_copy(
        update={
            "import_allowed_hosts": [source.host],
            "import_heartbeat_seconds": 0.2,
            "import_stale_seconds": 2.0,
            "orphan_grace_seconds": 1.0,
        }
    )


@pytest.fixture
def key(crash_settings: Settings) -> Key:
    parts = build_components(crash_settings)
    try:
        account = parts.accounts.create_account("crash")
        record = parts.accounts.create_key(account.id, "crash@example.com")
    finally:
        parts.close()
    return Key(record.access_key, record.secret_key, account.id, record.user_name)
