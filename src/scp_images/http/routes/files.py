"""/v2/images/{id}/file: download (with Range) and the Glance-compatible direct upload."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import anyio
import anyio.from_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import DomainError, Unavailable
from scp_images.domain.image import ImageStatus
from scp_images.domain.principal import Action, Principal
from scp_images.http.audit import answered_status, audited
from scp_images.http.body import upload_chunks
from scp_images.http.deps import Services, services
from scp_images.http.errors import envelope
from scp_images.http.responses import empty_response, json_response
from scp_images.services.audit import AuditContext
from scp_images.services.downloads import Download

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
    return file_response(request, download, call.headers, call.request_id)


def file_response(request: Request, download: Download, base: dict[str, str], request_id: str) -> Response:
    """How an image's bytes are answered: a 307 to the object store when the service decided so, else the
    whole file or one range. Download links answer through this same function, so both follow."""
    if download.redirect is not None:
        return _redirect(download.redirect(base.get("Content-Disposition")), base)
    svc = services(request)
    image, size = download.image, download.size
    assert image.checksum is not None
    headers = {
        **base,
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
            request_id,
        )
        return json_response(body, 416, {**base, "Content-Range": f"bytes */{size}"})
    if wanted is None:
        headers["Content-Length"] = str(size)
        headers["Content-MD5"] = base64.b64encode(bytes.fromhex(image.checksum)).decode()
        return _stream(svc, download.read(0, None), 200, headers)
    start, end = wanted
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return _stream(svc, download.read(start, end - start + 1), 206, headers)


def _redirect(location: str, base: dict[str, str]) -> Response:
    """307 keeps the method; the client asks the object store for the bytes (and any Range) itself. The URL
    is a credential for a while: no cache may keep the answer."""
    headers = {**base, "Location": location, "Cache-Control": "no-store"}
    headers.pop("Content-Disposition", None)  # the object store answers it, presigned into the URL
    return empty_response(307, headers)


def _stream(svc: Services, chunks: Iterator[bytes], status: int, headers: dict[str, str]) -> Response:
    release = svc.transfers.acquire()
    try:
        return StreamingResponse(svc.transfers.body(chunks, release), status_code=status, headers=headers)
    except BaseException:
        release()
        raise


@router.put("/v2/images/{image_id}/file")
async def upload_image(request: Request, image_id: str) -> Response:
    """The owner streams the bytes of a queued image; they pass the same pipeline as imports. The ingest
    runs on a transfer thread and pulls each chunk from the event loop: natural backpressure."""
    svc = services(request)
    audit = audited(request, AuditAction.IMAGE_UPLOAD, 204, image_id=image_id)
    try:
        call = await anyio.to_thread.run_sync(svc.guard.authorize, request, Action.IMPORT_IMAGE)
        release = svc.transfers.acquire()
        try:
            context = replace(audit.context(call), status_of=upload_status)
            await run_upload(svc, call.principal, image_id, request, context)
        finally:
            release()
    except Exception as exc:
        await anyio.to_thread.run_sync(audit.failed, exc)
        raise
    return empty_response(204, call.headers)


def upload_status(error: BaseException) -> int:
    # An upload that ends on an unexpected error is answered 503 below ("stopped before it was stored").
    return answered_status(error) if isinstance(error, DomainError) else 503


# A refused upload (a quota crossed, a bad format) whose client is still sending: read and drop this much
# more so the client, a browser above all, gets the answer instead of a reset connection; past it, close.
_DRAIN_BYTES = 64 << 20


async def _drain(stream: AsyncIterator[bytes]) -> None:
    left = _DRAIN_BYTES
    try:
        while left > 0:
            left -= len(await stream.__anext__())
    except Exception:  # the end of the body, a disconnect or the body read timeout: nothing more to read
        return


async def run_upload(
    svc: Services,
    principal: Principal,
    image_id: str,
    request: Request,
    context: AuditContext,
    target: ImageStatus = ImageStatus.ACTIVE,
) -> None:
    """Claim the queued image, stream the request body through the ingest pipeline, and wait for the
    result: the one upload path, shared by this route and the OpenStack edge's ``PUT …/file``. The
    upload's record is written when it ends: with the activation, or with the image queued again or
    killed (an error's status and code)."""
    worker = f"upload:{context.request_id}"
    length = request.headers.get("content-length", "")
    total = int(length) if length.isascii() and length.isdigit() and len(length) <= 19 else None
    fence = await anyio.to_thread.run_sync(svc.images.begin_upload, principal, image_id, worker, total)
    stream = upload_chunks(request).__aiter__()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    def chunks() -> Iterator[bytes]:
        while (chunk := anyio.from_thread.run(next_chunk)) is not None:
            yield chunk

    progress = svc.ingest.heartbeat(fence, svc.limits.upload_heartbeat_seconds)
    try:
        result = await svc.transfers.run(
            lambda: svc.ingest.ingest_or_kill(
                fence, chunks(), progress=progress, reraise=True, context=context, target=target
            )
        )
    except DomainError:
        await _drain(stream)
        raise
    if result is None:
        raise Unavailable(reason="the upload stopped before it was stored")
