"""Reading request bodies: small JSON bodies with a size cap, and large uploads as a stream; both give up
on a client that stops sending for longer than the read timeout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from starlette.requests import ClientDisconnect, Request

from scp_images.domain.errors import UploadInterrupted
from scp_images.http.deps import services

UPLOAD_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class RawBody:
    data: bytes
    content_type: str | None


async def _timed(request: Request, timeout: float) -> AsyncIterator[bytes]:
    stream = request.stream().__aiter__()
    while True:
        try:
            with anyio.fail_after(timeout):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UploadInterrupted(reason=f"no data arrived for {timeout:g} seconds") from None
        except ClientDisconnect:
            raise UploadInterrupted(reason="the client disconnected") from None
        yield chunk


async def raw_body(request: Request) -> RawBody:
    """The body, read at most one byte past the cap so an oversized one is recognised, not buffered.
    Its validation waits until the handler has authenticated the call."""
    limits = services(request).limits
    buffer = bytearray()
    async for chunk in _timed(request, limits.body_read_timeout_seconds):
        buffer += chunk
        if len(buffer) > limits.max_body_bytes:
            break
    return RawBody(bytes(buffer), request.headers.get("content-type"))


async def upload_chunks(request: Request, size: int = UPLOAD_CHUNK) -> AsyncIterator[bytes]:
    """The upload stream regrouped into ~1 MiB chunks, so per-chunk costs downstream stay small."""
    buffer = bytearray()
    async for chunk in _timed(request, services(request).limits.body_read_timeout_seconds):
        buffer += chunk
        if len(buffer) >= size:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)
