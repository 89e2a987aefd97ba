"""The blob contract: where image bytes live, behind one narrow interface.

Every backend passes the same conformance suite (``tests/blob/test_conformance.py``). Bytes are staged by a
writer and become visible under their key only on ``commit``, atomically, so a key never names partial data.

Errors callers may see: ``ValueError`` (bad key or misuse of a closed writer), ``BlobNotFound`` and
``BlobStoreUnavailable``. Backend-specific exceptions (``OSError``, botocore errors) are chained, not leaked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "BlobStoreUnavailable",
    "BlobWriter",
    "PresignsReads",
    "StagedUpload",
    "StoredBlob",
    "WriterBase",
    "is_valid_key",
    "validate_key",
    "validate_range",
]

MAX_KEY_LENGTH = 1024  # S3's limit, applied everywhere so a key valid on one backend is valid on all
_KEY_CHARS = re.compile(r"[A-Za-z0-9._/-]+")
_log = logging.getLogger(__name__)


class BlobNotFound(KeyError):
    """No committed blob under the key."""


class BlobStoreUnavailable(Exception):
    """The store cannot be reached or failed to perform the operation."""


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key such as ``images/<uuid>``; raise ValueError otherwise."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"invalid blob key {key!r}: must be 1 to {MAX_KEY_LENGTH} characters")
    if not _KEY_CHARS.fullmatch(key):
        raise ValueError(f"invalid blob key {key!r}: allowed characters are A-Z a-z 0-9 . _ / -")
    if ".." in key:
        raise ValueError(f"invalid blob key {key!r}: must not contain '..'")
    # Segments starting with "." are refused so keys can never collide with the filesystem staging area
    # (.staging) or hidden files; empty segments would alias on the filesystem but not on S3.
    if any(not part or part.startswith(".") for part in key.split("/")):
        raise ValueError(f"invalid blob key {key!r}: no leading '/', empty or dot-prefixed segments")
    return key


def is_valid_key(key: str) -> bool:
    try:
        validate_key(key)
    except ValueError:
        return False
    return True


def validate_range(offset: int, length: int | None, chunk_size: int) -> None:
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    if length is not None and length < 0:
        raise ValueError(f"length must be >= 0 or None, got {length}")
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be > 0, got {chunk_size}")


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A committed blob, as the orphan sweep sees it."""

    key: str
    modified_at: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class StagedUpload:
    """Bytes staged for a key that were never committed (a writer in flight, or one that died)."""

    key: str | None  # the key it would commit to, where the backend can tell
    started_at: float  # epoch seconds
    handle: str  # what ``abort`` needs: a staging file name, or an S3 multipart upload id


@runtime_checkable
class BlobWriter(Protocol):
    """Stages bytes for one key. Use as a context manager: an exception inside ``with`` cancels."""

    bytes_written: int

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data``; chunks may be of any size."""

    def commit(self) -> None:
        """Make the staged bytes durable and visible under the key atomically; the writer is then closed."""

    def cancel(self) -> None:
        """Discard everything staged. Idempotent, safe after a failed write, a no-op after commit."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


@runtime_checkable
class BlobStore(Protocol):
    name: str  # "file" or "s3"

    def writer(self, key: str) -> BlobWriter: ...

    def read(
        self, key: str, *, offset: int = 0, length: int | None = None, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        """Yield ``blob[offset:offset + length]`` in chunks of at most ``chunk_size``.

        Raises BlobNotFound when called (not on first ``next``), so callers can answer 404 before streaming.
        Like slicing, a range past the end yields fewer or no bytes.
        """
        ...

    def size(self, key: str) -> int | None: ...

    def delete(self, key: str) -> None: ...

    def keys(self) -> Iterator[str]:
        """Committed keys only."""
        ...

    def blobs(self) -> Iterator[StoredBlob]:
        """Committed blobs with their modification times, for the orphan sweep."""
        ...

    def staged(self) -> Iterator[StagedUpload]:
        """Uploads staged but not committed, for the orphan sweep."""
        ...

    def abort(self, upload: StagedUpload) -> None:
        """Discard a staged upload found by ``staged``; a no-op when it is gone already."""
        ...

    def check(self) -> None:
        """Raise BlobStoreUnavailable if the store cannot be reached (readiness probe)."""
        ...


@runtime_checkable
class PresignsReads(Protocol):
    """A store whose clients can fetch a blob themselves, with a short-lived URL (S3, not the filesystem)."""

    def presigned_read_url(
        self, key: str, expires_in: int, *, content_disposition: str | None = None
    ) -> str: ...


@runtime_checkable
class LinksLocally(Protocol):
    """A store whose committed blobs are files on this host (the filesystem store): a conversion links one
    into its job directory instead of copying it, when both are on one filesystem."""

    def link_into(self, key: str, target: Path) -> bool: ...

    def adopt(self, key: str, source: Path, *, durable: bool = True) -> bool:
        """Commit the finished file ``source`` as blob ``key`` by a hard link (durable once it returns,
        unless ``durable=False``: then only once ``sync(key)`` has returned); False when the filesystem
        cannot, so the caller copies."""
        ...

    def sync(self, key: str) -> None:
        """Make blob ``key`` and its name durable (what ``adopt`` left to the caller)."""
        ...


class WriterBase:
    """State handling shared by the backends' writers; subclasses implement ``_write/_commit/_cancel``.

    After a failed write or commit the staged state is unknown, so only ``cancel`` is allowed.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.bytes_written = 0
        self._closed = False
        self._failed = False

    def write(self, data: bytes | memoryview) -> None:
        self._ensure_usable()
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        if not view.nbytes:
            return
        with self._failing_on_error():
            self._write(view)
        self.bytes_written += view.nbytes

    def commit(self) -> None:
        self._ensure_usable()
        with self._failing_on_error():
            self._commit()
        self._closed = True

    def cancel(self) -> None:
        if self._closed:
            return
        self._cancel()
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            return
        try:
            self.cancel()
        except Exception:
            # The original exception matters more; whatever is left staged is removed by the orphan sweep.
            _log.warning("cancelling the writer for %r failed", self.key, exc_info=True)

    def _ensure_usable(self) -> None:
        if self._closed:
            raise ValueError(f"writer for {self.key!r} is closed")
        if self._failed:
            raise ValueError(f"writer for {self.key!r} failed earlier; cancel it")

    @contextmanager
    def _failing_on_error(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self._failed = True
            raise

    def _write(self, data: memoryview) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _cancel(self) -> None:
        raise NotImplementedError
