"""/v2/images/{id}/file: download (with Range) and the Glance-compatible direct upload."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import anyio
import anyio.from_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from scp_images.domain.errors import Unavailable
from scp_images.domain.principal import Action
from scp_images.http.body import coalesced
from scp_images.http.deps import services
from scp_images.http.errors import envelope
from scp_images.http.responses import empty_response, json_response

router = APIRouter()

# ASCII digits only: ``\d`` would also match other scripts' digits, which int() accepts.
_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$", re.ASCII)
# More digits than any blob size can have; such a position is simply "past every end".
_MAX_DIGITS = 19


class _Unsatisfiable(Exception):
    pass


def _position(digits: str) -> int:
    """A byte position of any length as an int, without int()'s 4,300-digit limit: a number longer
    than 19 significant digits is larger than every size, so it is capped there."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= _MAX_DIGITS else 10**_MAX_DIGITS


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single range, or None for the whole file. Multi-range and
    malformed headers get the whole file, as RFC 9110 allows; a range past the end is refused."""
    match = _RANGE.match(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        length = _position(last)
        if length == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - length), size - 1
    start = _position(first)
    end = min(_position(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise _Unsatisfiable
    return start, end


@router.get("/v2/images/{image_id}/file")
def download_image(request: Request, image_id: str) -> Response:
    svc = services(request)
    call = svc.guard.authorize(request, Action.SHOW_IMAGE)
    download = svc.images.download(call.principal, image_id)
    image, size = download.image, download.size
    assert image.checksum is not None
    headers = {
        **call.headers,
        "Accept-Ranges": "bytes",
        "ETag": f'"{image.checksum}"',
        "Content-Type": "application/octet-stream",
    }
    try:
        wanted = _byte_range(request.headers.get("range"), size)
    except _Unsatisfiable:
        body = envelope(
            416,
            "virtualserver.request.RangeNotSatisfiable",
            "Range Not Satisfiable",
            f"the image has {size} bytes",
            call.request_id,
        )
        return json_response(body, 416, {**call.headers, "Content-Range": f"bytes */{size}"})
    if wanted is None:
        headers["Content-Length"] = str(size)
        headers["Content-MD5"] = base64.b64encode(bytes.fromhex(image.checksum)).decode()
        return StreamingResponse(download.read(0, None), headers=headers)
    start, end = wanted
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(download.read(start, end - start + 1), status_code=206, headers=headers)


@router.put("/v2/images/{image_id}/file")
async def upload_image(request: Request, image_id: str) -> Response:
    """The owner streams the bytes of a queued image; they pass the same pipeline as imports."""
    svc = services(request)
    call = await anyio.to_thread.run_sync(svc.guard.authorize, request, Action.IMPORT_IMAGE)
    worker = f"upload:{call.request_id}"
    image = await anyio.to_thread.run_sync(svc.images.begin_upload, call.principal, image_id, worker)
    stream = coalesced(request).__aiter__()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    def chunks() -> Iterator[bytes]:
        # Runs on the ingest thread and pulls each chunk from the event loop: natural backpressure.
        while (chunk := anyio.from_thread.run(next_chunk)) is not None:
            yield chunk

    progress = svc.ingest.heartbeat(image.id, worker, svc.upload_heartbeat_seconds)
    result = await anyio.to_thread.run_sync(
        lambda: svc.ingest.ingest_or_kill(image.id, chunks(), worker=worker, progress=progress, reraise=True)
    )
    if result is None:
        raise Unavailable(reason="the upload stopped before it was stored")
    return empty_response(204, call.headers)
