"""Moving image bytes: a streamed upload body, and downloads that are staged, verified, then moved."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from scp_images.client._exceptions import IntegrityError, TransportError

if TYPE_CHECKING:
    from scp_images.client._client import Client

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``progress(bytes_done, bytes_total)``; ``bytes_total`` is None when unknown."""

CHUNK_SIZE = 1 << 20


def file_chunks(
    path: Path, progress: ProgressCallback | None = None, chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """The file as a lazy sequence of chunks: memory stays at one chunk whatever the file size."""
    total = path.stat().st_size
    done = 0
    if progress is not None:
        progress(0, total)
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk
            done += len(chunk)
            if progress is not None:
                progress(done, total)


@contextmanager
def open_stream(client: Client, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
    """``client.stream`` with the same error mapping as ``client.request``."""
    try:
        with client.stream(method, path, **kwargs) as response:
            if response.status_code >= 400:
                response.read()
                raise client._error(response)
            yield response
    except httpx.HTTPError as exc:
        raise TransportError(f"{method} {client.endpoint}{path}: {exc}", client.endpoint) from exc


@contextmanager
def follow_download(client: Client, redirect: httpx.Response) -> Iterator[httpx.Response]:
    """The bytes from where the server redirected a download (an object store's short-lived URL), fetched
    without the SCP headers. One hop only, never from https down to http; anything but 200 is an error."""
    url = redirect.url.join(redirect.headers["location"])
    if url.scheme not in ("http", "https") or (redirect.url.scheme == "https" and url.scheme != "https"):
        raise TransportError(f"refusing to follow the download from {redirect.url.scheme} to {url.scheme}")
    shown = f"{url.scheme}://{url.netloc.decode()}{url.path}"  # the query is a credential: never shown
    try:
        with client.unsigned_stream("GET", url) as response:
            if response.status_code != 200:
                response.read()
                raise TransportError(
                    f"the object store answered {response.status_code} for {shown}: {response.text[:300]}"
                )
            yield response
    except httpx.HTTPError as exc:
        raise TransportError(f"GET {shown}: {exc}") from exc


@dataclass(frozen=True)
class Expected:
    """What downloaded bytes must match; a field left None is not checked."""

    md5: str | None = None  # hex, the image's ``checksum``
    sha512: str | None = None  # hex, the image's ``os_hash_value``
    content_md5: str | None = None  # base64, the ``Content-MD5`` header
    size: int | None = None

    def is_empty(self) -> bool:
        return not (self.md5 or self.sha512 or self.content_md5)


class _Digests:
    def __init__(self) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha512 = hashlib.sha512()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.md5.update(chunk)
        self.sha512.update(chunk)
        self.size += len(chunk)

    def mismatches(self, expected: Expected) -> list[str]:
        checks = [
            ("size", expected.size, self.size),
            ("md5 checksum", expected.md5 and expected.md5.lower(), self.md5.hexdigest()),
            ("Content-MD5", expected.content_md5, base64.b64encode(self.md5.digest()).decode()),
            ("sha512 os_hash_value", expected.sha512 and expected.sha512.lower(), self.sha512.hexdigest()),
        ]
        return [
            f"{name}: expected {want}, got {got}"
            for name, want, got in checks
            if want is not None and want != got
        ]


def _copy(
    chunks: Iterable[bytes], out: IO[bytes], total: int | None, progress: ProgressCallback | None
) -> _Digests:
    digests = _Digests()
    if progress is not None:
        progress(0, total)
    for chunk in chunks:
        out.write(chunk)
        digests.update(chunk)
        if progress is not None:
            progress(digests.size, total)
    return digests


def save_verified(
    chunks: Iterable[bytes], path: Path, expected: Expected, progress: ProgressCallback | None = None
) -> Path:
    """Write ``chunks`` to a temporary file next to ``path``, hashing on the way; move it into place
    only when every expected figure matches, else delete it and raise ``IntegrityError``."""
    if expected.is_empty():
        raise IntegrityError(f"nothing to verify {path.name} against: the image has no checksum")
    staging = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        with staging.open("xb") as out:
            digests = _copy(chunks, out, expected.size, progress)
            out.flush()
            os.fsync(out.fileno())
        problems = digests.mismatches(expected)
        if problems:
            raise IntegrityError(f"download of {path.name} is corrupt: " + "; ".join(problems))
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    os.replace(staging, path)
    return path
