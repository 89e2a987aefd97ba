"""Tools for making races happen on purpose: a blob store that stops at chosen points, and uploads sent
by hand over a socket (cut short, or stalled)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from scp_images.signing import sign_request
from scp_images.store.blob.base import BlobStore, BlobWriter, StagedUpload, StoredBlob
from tests.support.stack import Key


@dataclass
class Gate:
    """One stop: the code under test signals ``reached`` and waits for ``opened``."""

    reached: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)

    def stop_here(self, timeout: float = 30) -> None:
        self.reached.set()
        if not self.opened.wait(timeout):
            raise TimeoutError("the test never opened the gate")

    def wait_reached(self, timeout: float = 30) -> None:
        assert self.reached.wait(timeout), "the code under test never reached the gate"


class _PausingWriter:
    def __init__(self, inner: BlobWriter, store: PausingBlobStore) -> None:
        self._inner = inner
        self._store = store
        self.bytes_written = 0

    def write(self, data: bytes | memoryview) -> None:
        self._inner.write(data)
        self.bytes_written = self._inner.bytes_written
        gate = self._store.after_write
        if gate is not None and self.bytes_written >= self._store.after_write_bytes:
            self._store.after_write = None
            gate.stop_here()

    def commit(self) -> None:
        self._inner.commit()
        gate, self._store.after_commit = self._store.after_commit, None
        if gate is not None:
            gate.stop_here()

    def cancel(self) -> None:
        self._inner.cancel()

    def __enter__(self) -> _PausingWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._inner.__exit__(exc_type, exc, tb)


class PausingBlobStore:
    """Wraps a real store; each gate set on it stops the next caller there once."""

    def __init__(self, inner: BlobStore) -> None:
        self._inner = inner
        self.name = inner.name
        self.after_write: Gate | None = None
        self.after_write_bytes = 1
        self.after_commit: Gate | None = None
        self.before_listing: Gate | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def writer(self, key: str) -> _PausingWriter:
        return _PausingWriter(self._inner.writer(key), self)

    def _listing_gate(self) -> None:
        gate, self.before_listing = self.before_listing, None
        if gate is not None:
            gate.stop_here()

    def blobs(self) -> Iterator[StoredBlob]:
        self._listing_gate()
        return self._inner.blobs()

    def staged(self) -> Iterator[StagedUpload]:
        self._listing_gate()
        return self._inner.staged()


def signed_put(base_url: str, path: str, key: Key, length: int) -> tuple[socket.socket, bytes]:
    """Open a connection and send the headers of ``PUT path`` announcing ``length`` bytes; the caller
    sends (some of) the body. Returns the socket and nothing else sent yet."""
    url = base_url + path
    parts = urlsplit(url)
    headers = sign_request("PUT", url, key.access_key, key.secret_key).as_dict()
    lines = [f"PUT {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Content-Type: application/octet-stream", "", ""]
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall("\r\n".join(lines).encode())
    return sock, b""


def read_status(sock: socket.socket) -> int | None:
    """The status of the response on ``sock``, or None when the server closed without one."""
    data = b""
    with suppress(OSError):
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    if not data.startswith(b"HTTP/1.1 "):
        return None
    return int(data.split(b" ", 2)[1])
