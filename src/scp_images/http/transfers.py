"""Image transfers (uploads and downloads) are bounded per process, and uploads run on threads of their
own, so a crowd of slow clients can neither exhaust memory nor hold the thread pool that every other
request needs. Past the bound a transfer is refused at once with 503 and Retry-After: clients retry, and
a boot storm of a few dozen downloads stays well inside the default."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

import anyio
import anyio.to_thread
from starlette.concurrency import iterate_in_threadpool

from scp_images.domain.errors import Unavailable

T = TypeVar("T")


class TransferSlots:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_use = 0
        self._lock = threading.Lock()
        # Uploads run their ingest on a limiter of their own, not the default one that sync routes share;
        # made on first use because it belongs to the running event loop.
        self._threads: anyio.CapacityLimiter | None = None

    @property
    def in_use(self) -> int:
        return self._in_use

    def acquire(self) -> Callable[[], None]:
        """Take a slot or refuse with 503; returns the release, which is safe to call twice."""
        with self._lock:
            if self._in_use >= self.limit:
                raise Unavailable(reason=f"{self.limit} image transfers are in progress; retry shortly")
            self._in_use += 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if not released.is_set():
                    released.set()
                    self._in_use -= 1

        return release

    async def run(self, fn: Callable[[], T]) -> T:
        if self._threads is None:
            self._threads = anyio.CapacityLimiter(self.limit)
        return await anyio.to_thread.run_sync(fn, limiter=self._threads)


async def released_after(chunks: Iterator[bytes], release: Callable[[], None]) -> AsyncIterator[bytes]:
    """A download body that gives its slot back however the response ends (done, error, disconnect)."""
    try:
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk
    finally:
        release()
