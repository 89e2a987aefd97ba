"""Reading request bodies: small JSON bodies with a size cap, and large uploads as a stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.requests import Request

UPLOAD_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class RawBody:
    data: bytes
    content_type: str | None


async def raw_body(request: Request) -> RawBody:
    """The body, read at most one byte past the cap so an oversized one is recognised, not buffered.
    Its validation waits until the handler has authenticated the call."""
    limit = request.app.state.settings.max_body_bytes
    buffer = bytearray()
    async for chunk in request.stream():
        buffer += chunk
        if len(buffer) > limit:
            break
    return RawBody(bytes(buffer), request.headers.get("content-type"))


async def coalesced(request: Request, size: int = UPLOAD_CHUNK) -> AsyncIterator[bytes]:
    """The upload stream regrouped into ~1 MiB chunks, so per-chunk costs downstream stay small."""
    buffer = bytearray()
    async for chunk in request.stream():
        buffer += chunk
        if len(buffer) >= size:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)
