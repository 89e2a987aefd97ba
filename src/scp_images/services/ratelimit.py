"""A token bucket per access key. Process-local: behind several processes the limit is per process."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from scp_images.domain.errors import RateLimited


class RateLimiter:
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
