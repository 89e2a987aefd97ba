"""The transfer slots. Image transfers (uploads and downloads) are bounded per process, and uploads run on
threads of their own, so a crowd of slow clients can neither exhaust memory nor hold the thread pool that
every other request needs. Past the bound a transfer is refused at once with 503 and Retry-After: clients
retry, and a boot storm of a few dozen downloads stays well inside the default."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

import anyio
import anyio.to_thread

from scp_images.domain.errors import Unavailable

T = TypeVar("T")
Chunk = bytes | memoryview


class TransferSlots:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_use = 0
        self._lock = threading.Lock()
        # Uploads run their ingest on a limiter of their own, not the default one that sync routes share;
        # made on first use because it belongs to the running event loop.
        self._threads: anyio.CapacityLimiter | None = None

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

    async def body(self, chunks: Iterator[Chunk], release: Callable[[], None]) -> AsyncIterator[Chunk]:
        """A download body that gives its slot back however the response ends (done, error, disconnect).

        A chunk the blob store can hand over without waiting (``next_nowait``: the filesystem store, from
        the page cache) is sent from the event loop; any other is read on the transfer threads, so a
        crowd of downloads never holds the shared thread pool, and warm bytes cost no thread hop each."""
        nowait: Callable[[], Chunk | None] | None = getattr(chunks, "next_nowait", None)
        try:
            while True:
                chunk = nowait() if nowait is not None else None
                if chunk is None:
                    chunk = await self.run(lambda: next(chunks, None))
                    if chunk is None:
                        return
                yield chunk
        except StopIteration:
            return
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            release()
