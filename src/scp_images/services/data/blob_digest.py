"""The SHA-512 of a stored blob, read and hashed by a thread of its own.

A conversion uses it for its original when nothing else reads the whole original: the original was
hard-linked into the job directory, or only an OVA's disk member was copied. The thread then reads the
blob while ``qemu-img`` converts on the other core, and the conversion joins it before activation.

Used as a context manager: leaving it (success, failure, cancel, timeout) stops the thread at its next
chunk, closes the blob's reader and joins the thread, so no thread and no open file outlive the block.
"""

from __future__ import annotations

import hashlib
import threading
from types import TracebackType

from scp_images.domain.errors import DiskImageRejected
from scp_images.store.blob.base import BlobStore

THREAD_NAME = "original-sha512"
_CHUNK = 4 << 20


class BlobDigest:
    """``hexdigest()`` of blob ``key`` (expected to hold ``size`` bytes) once ``wait`` says it is done."""

    def __init__(self, blobs: BlobStore, key: str, size: int) -> None:
        self._blobs, self._key, self._size = blobs, key, size
        self._stop = threading.Event()
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)

    def __enter__(self) -> BlobDigest:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
        self._thread.join()

    def stop(self) -> None:
        """Ask the thread to end at its next chunk (without waiting for it)."""
        self._stop.set()

    def wait(self, timeout: float) -> bool:
        """True once the thread has ended (with the digest or an error), waiting at most ``timeout``."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def hexdigest(self) -> str:
        """The digest, after ``wait`` said the thread ended; raises what stopped it (a store's error)."""
        assert not self._thread.is_alive(), "joined first"
        if self._error is not None:
            raise self._error
        if self._digest is None:
            raise RuntimeError("the digest was stopped before its end")
        return self._digest

    def _run(self) -> None:
        try:
            self._digest = self._hash()
        except BaseException as exc:  # kept for the joining thread, which fails the job with it
            self._error = exc

    def _hash(self) -> str | None:
        digest, read = hashlib.sha512(), 0
        chunks = self._blobs.read(self._key, chunk_size=_CHUNK)
        try:
            for chunk in chunks:
                if self._stop.is_set():
                    return None
                digest.update(chunk)
                read += len(chunk)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # the file or the HTTP body goes now, not when the iterator is collected
        if read != self._size:
            detail = f"the staged original holds {read} bytes where {self._size} were expected"
            raise DiskImageRejected("conversion_failed", detail)
        return digest.hexdigest()
