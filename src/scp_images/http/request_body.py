"""Reading a request's body, for both edges: a small body (JSON) read whole up to a size cap, and a large
one (an upload) as a stream; both give up on a client that stops sending for longer than the read timeout.
The models a JSON body is validated against are in ``request_models``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import orjson
from starlette.requests import ClientDisconnect, Request

from scp_images.domain.errors import InvalidRequest, PayloadTooLarge, UploadInterrupted
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


def media_type(content_type: str) -> str:
    """``Application/JSON; charset=utf-8`` -> ``application/json``."""
    return content_type.split(";")[0].strip().lower()


def json_document(
    raw: RawBody,
    limit: int,
    check_media: Callable[[str | None], object] | None = None,
    *,
    empty_is_none: bool = True,
) -> Any:
    """The one JSON body reader: the size cap (413), then the edge's rule for the Content-Type, then the
    document. An empty body is None where the edge treats it as "no document" (its own message follows);
    otherwise it is invalid JSON like any other unreadable body."""
    if len(raw.data) > limit:
        raise PayloadTooLarge(limit=limit)
    if check_media is not None:
        check_media(raw.content_type)
    if not raw.data and empty_is_none:
        return None
    try:
        return orjson.loads(raw.data)
    except orjson.JSONDecodeError:
        raise InvalidRequest(reason="the body is not valid JSON") from None


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
