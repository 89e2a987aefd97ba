"""Time as a dependency, so tests can move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Naive UTC with microseconds: what the store keeps and sorts on."""
    return datetime.now(UTC).replace(tzinfo=None)
