"""The scrub's rate bound, on a clock of the test's own: reading N bytes at R bytes/s never ends before
N / R seconds, and a stop ends a wait at once."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from scp_images.services.upkeep.scrub import Pacer


class _Clock:
    """Time that passes only when the pacer waits (the reads themselves take no time here)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Stop(threading.Event):
    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None and timeout > 0
        self.clock.now += timeout
        return self.is_set()


@given(
    st.floats(min_value=1024, max_value=1e9),
    st.lists(st.integers(min_value=1, max_value=4 << 20), min_size=1, max_size=50),
)
def test_reads_never_run_ahead_of_the_rate(rate: float, chunks: list[int]) -> None:
    clock = _Clock()
    pacer = Pacer(rate, _Stop(clock), monotonic=clock)
    for size in chunks:
        pacer.take(size)
    assert abs((clock.now - 100.0) - sum(chunks) / rate) < 1e-6 * max(1.0, sum(chunks) / rate)


def test_no_rate_never_waits_and_chunks_stay_within_bounds() -> None:
    clock = _Clock()
    pacer = Pacer(None, _Stop(clock), monotonic=clock)
    pacer.take(1 << 30)
    assert clock.now == 100.0 and pacer.chunk_size == 1 << 20
    assert Pacer(1.0, monotonic=clock).chunk_size == 64 * 1024
    assert Pacer(1e12, monotonic=clock).chunk_size == 1 << 20
