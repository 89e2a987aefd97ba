"""Blobs as files under a root directory.

Layout: committed blobs at ``root/<key>``; uploads in progress at ``root/.staging/<random>.<key>`` (the
key with ``/`` written as ``%``, which keys cannot contain, so the orphan sweep can tell whose it is).
The staging area lives under the same root so that ``os.replace`` is a same-filesystem rename, hence
atomic: a reader sees the old blob or the new one, never a mix, and a crash before commit leaves only a
staging file for the sweep.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, NoReturn, TypeVar

from scp_images.store.blob.base import (
    BlobNotFound,
    BlobStoreUnavailable,
    StagedUpload,
    StoredBlob,
    WriterBase,
    is_valid_key,
    validate_key,
    validate_range,
)

__all__ = ["STAGING_DIR", "FilesystemBlobStore"]

STAGING_DIR = ".staging"
# Small writes are coalesced up to this size; writes at least this large go straight to the kernel, so
# 1 MiB chunks cost one syscall each and no extra copy.
_WRITE_BUFFER = 128 * 1024
# The path exists but is not a regular file (a directory, or a file where a directory is expected).
_NOT_A_BLOB = (FileNotFoundError, IsADirectoryError, NotADirectoryError)
_MAX_NAME = 255
# Reads that fail rather than wait for the disk (Linux >= 5.9 for buffered reads); 0 where unknown.
_NOWAIT = getattr(os, "RWF_NOWAIT", 0)


@contextmanager
def _unavailable_on_os_error(what: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise BlobStoreUnavailable(f"filesystem blob store: {what} failed: {exc}") from exc


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # removed while listing
        return None


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, os.O_RDONLY | flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    _fsync(path, os.O_NOFOLLOW)


def _fsync_dir(path: Path) -> None:
    _fsync(path, os.O_DIRECTORY)


def _ensure_dir(path: Path) -> None:
    """Create ``path`` and missing parents, making each new directory entry durable."""
    if path.is_dir():
        return
    _ensure_dir(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        return  # a concurrent commit created it (and fsynced its parent)
    _fsync_dir(path.parent)


def _staging_name(key: str) -> str:
    name = f"{secrets.token_hex(16)}.{key.replace('/', '%')}"
    # File names are limited to 255 bytes; a staged file of a longer key is swept by age alone.
    return name if len(name) <= _MAX_NAME else secrets.token_hex(16)


def _key_of_staging_name(name: str) -> str | None:
    _, dot, encoded = name.partition(".")
    key = encoded.replace("%", "/")
    return key if dot and is_valid_key(key) else None


class _FileWriter(WriterBase):
    def __init__(self, key: str, target: Path, staging_dir: Path) -> None:
        super().__init__(key)
        self._target = target
        self._temp = staging_dir / _staging_name(key)
        self._file: BinaryIO = open(self._temp, "xb", buffering=_WRITE_BUFFER)  # noqa: SIM115

    def _write(self, data: memoryview) -> None:
        with _unavailable_on_os_error(f"writing {self.key!r}"):
            self._file.write(data)

    def _commit(self) -> None:
        with _unavailable_on_os_error(f"committing {self.key!r}"):
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            _ensure_dir(self._target.parent)
            os.replace(self._temp, self._target)
            _fsync_dir(self._target.parent)

    def _cancel(self) -> None:
        with _unavailable_on_os_error(f"cancelling {self.key!r}"):
            self._file.close()
            self._temp.unlink(missing_ok=True)


_Data = TypeVar("_Data", bytes, memoryview)


class _FileChunks:
    """The chunks of ``file[offset:offset + length]``. Besides blocking ``next`` it offers
    ``next_nowait``: the next chunk only if the page cache holds it (``preadv`` with ``RWF_NOWAIT``), else
    None, so a server can send warm bytes without a thread hop per chunk and read cold ones on a thread.
    The open descriptor pins the inode, so a concurrent overwrite or delete cannot tear this read."""

    def __init__(self, file: BinaryIO, offset: int, length: int | None, chunk_size: int) -> None:
        self._file = file
        self._fd = file.fileno()
        size = os.fstat(self._fd).st_size
        self._end = size if length is None else min(size, offset + length)
        self._position = offset
        self._chunk_size = chunk_size
        self._nowait = _NOWAIT

    def __iter__(self) -> _FileChunks:
        return self

    def __next__(self) -> bytes:
        wanted = self._wanted()
        data = os.pread(self._fd, wanted, self._position) if wanted else b""
        return self._advance(data)

    def next_nowait(self) -> memoryview | None:
        """The next chunk if it can be read without waiting for the disk; None if it cannot (then call
        ``next``). Raises StopIteration at the end, like ``next``."""
        wanted = self._wanted()
        if not wanted:
            self._stop()
        if not self._nowait:
            return None
        buffer = bytearray(wanted)
        try:
            got = os.preadv(self._fd, [buffer], self._position, self._nowait)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            self._nowait = 0  # this filesystem cannot: every chunk goes through ``next``
            return None
        if got == 0:
            return None  # nothing cached at this position (some kernels answer 0, not EAGAIN)
        return self._advance(memoryview(buffer)[:got])  # a view: no second copy of the bytes

    def _wanted(self) -> int:
        if self._file.closed:
            return 0
        return max(0, min(self._chunk_size, self._end - self._position))

    def _advance(self, data: _Data) -> _Data:
        if not data:
            self._stop()
        self._position += len(data)
        return data

    def _stop(self) -> NoReturn:
        self.close()
        raise StopIteration

    def close(self) -> None:
        self._file.close()


class FilesystemBlobStore:
    name = "file"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._staging = self.root / STAGING_DIR
        with _unavailable_on_os_error(f"creating {self._staging}"):
            self._staging.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"FilesystemBlobStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def writer(self, key: str) -> _FileWriter:
        target = self._path(key)
        with _unavailable_on_os_error(f"staging {key!r}"):
            return _FileWriter(key, target, self._staging)

    def read(
        self, key: str, *, offset: int = 0, length: int | None = None, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        path = self._path(key)
        validate_range(offset, length, chunk_size)
        with _unavailable_on_os_error(f"opening {key!r}"):
            try:
                file: BinaryIO = open(path, "rb", buffering=0)  # noqa: SIM115
            except _NOT_A_BLOB:
                raise BlobNotFound(key) from None
        return _FileChunks(file, offset, length, chunk_size)

    def link_into(self, key: str, target: Path) -> bool:
        """Make ``target`` a hard link of the committed blob ``key`` (a blob is never written again once
        committed); False when the filesystem cannot (another device, no hard links), so the caller copies."""
        try:
            os.link(self._path(key), target, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
                return False
            if exc.errno == errno.ENOENT:
                raise BlobNotFound(key) from None
            raise
        return True

    def adopt(self, key: str, source: Path, *, durable: bool = True) -> bool:
        """Commit ``source`` (a finished file nobody writes any more: a conversion's output) as blob ``key``
        by a hard link: no copy, and no second space; False when the filesystem cannot (the caller copies).
        With ``durable=False`` the file and its new name reach the disk in ``sync``, which a caller runs
        while it reads the file (the disk writes while the CPU hashes) and waits for before using it."""
        target = self._path(key)
        with _unavailable_on_os_error(f"committing {key!r}"):
            if durable:
                _fsync_file(source)
            _ensure_dir(target.parent)
            try:
                os.link(source, target, follow_symlinks=False)
            except OSError as exc:
                if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
                    return False
                raise
            if durable:
                _fsync_dir(target.parent)
        return True

    def sync(self, key: str) -> None:
        target = self._path(key)
        with _unavailable_on_os_error(f"syncing {key!r}"):
            _fsync_file(target)
            _fsync_dir(target.parent)

    def size(self, key: str) -> int | None:
        path = self._path(key)
        with _unavailable_on_os_error(f"stat of {key!r}"):
            try:
                info = path.stat()
            except _NOT_A_BLOB:
                return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    def delete(self, key: str) -> None:
        path = self._path(key)
        with _unavailable_on_os_error(f"deleting {key!r}"):
            try:
                path.unlink()
            except _NOT_A_BLOB:
                return

    def keys(self) -> Iterator[str]:
        return (blob.key for blob in self.blobs())

    def blobs(self) -> Iterator[StoredBlob]:
        with _unavailable_on_os_error("listing keys"):
            for directory, dirnames, filenames in os.walk(self.root):
                # Prune in place so os.walk skips the staging area and anything hidden.
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                base = Path(directory).relative_to(self.root)
                for filename in sorted(filenames):
                    key = (base / filename).as_posix()
                    # Stray files this API cannot address are not ours to report (or to sweep).
                    if is_valid_key(key):
                        modified = _mtime(Path(directory) / filename)
                        if modified is not None:
                            yield StoredBlob(key, modified)

    def staged(self) -> Iterator[StagedUpload]:
        with _unavailable_on_os_error("listing staged uploads"):
            for entry in os.scandir(self._staging):
                modified = _mtime(Path(entry.path)) if entry.is_file() else None
                if modified is not None:
                    yield StagedUpload(_key_of_staging_name(entry.name), modified, entry.name)

    def abort(self, upload: StagedUpload) -> None:
        if "/" in upload.handle or upload.handle.startswith("."):
            raise ValueError(f"not a staging file name: {upload.handle!r}")
        with _unavailable_on_os_error(f"aborting {upload.handle!r}"):
            (self._staging / upload.handle).unlink(missing_ok=True)

    def check(self) -> None:
        if not (self._staging.is_dir() and os.access(self._staging, os.W_OK | os.X_OK)):
            raise BlobStoreUnavailable(f"filesystem blob store at {self.root} is not a writable directory")
