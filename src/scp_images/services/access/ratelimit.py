"""The per-access-key rate limit, shared by every process through the database (``rate_limits``).

A process-local bucket would let N processes through N times the rate; the database's row is the one
bucket, moved by one statement per request (GCRA, see ``store.sql.guards.take_token``)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from scp_images.domain.errors import RateLimited
from scp_images.store.sql import guards
from scp_images.store.sql.database import Database


class RateLimiter:
    def __init__(
        self,
        db: Database,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.time,  # wall clock: every process (and host) must share it
        sweep_seconds: float = 60.0,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._db = db
        self._interval = 1.0 / rate
        burst = burst if burst is not None else max(1.0, rate)
        self._tolerance = (max(1.0, burst) - 1.0) * self._interval
        self._clock = clock
        self._sweep_every = sweep_seconds
        self._next_sweep = -math.inf
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Let one request of ``key`` through, or raise ``RateLimited`` with the seconds to wait."""
        now = self._clock()
        self._sweep_if_due(now)
        with self._db.transaction() as conn:
            if guards.take_token(conn, key, now, self._interval, self._tolerance):
                return
            tat = guards.arrival_time(conn, key)
        wait = (tat if tat is not None else now) - self._tolerance - now
        raise RateLimited(retry_after=max(1, math.ceil(wait)))

    def _sweep_if_due(self, now: float) -> None:
        """Idle buckets go at most every ``sweep_seconds`` per process; a bucket is kept a sweep interval
        past its arrival time, so a process whose clock is behind by less loses nothing."""
        with self._lock:
            if now < self._next_sweep:
                return
            self._next_sweep = now + self._sweep_every
        with self._db.transaction() as conn:
            guards.sweep_rates(conn, now - self._sweep_every)


class LocalTokenBucket:
    """A token bucket per key in this process only: for limits that guard the process's own work (how many
    unauthenticated calls it writes to the audit trail), not a tenant's share of the service."""

    def __init__(
        self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one token of ``key``'s bucket, or raise ``RateLimited`` with the seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise RateLimited(retry_after=max(1, math.ceil((1.0 - tokens) / self._rate)))
            self._buckets[key] = (tokens - 1.0, now)
