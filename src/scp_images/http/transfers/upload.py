"""An upload, for both edges (SCP ``PUT /v2/images/{id}/file``, v2 ``…/file`` and ``…/stage``): the request
body streamed through the same ingest pipeline as imports, on a transfer slot and a transfer thread that
pulls each chunk from the event loop (natural backpressure)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from starlette.requests import Request

from scp_images.domain.errors import DomainError, Unavailable
from scp_images.domain.image import ImageStatus
from scp_images.domain.principal import Principal
from scp_images.http.audit import AuditedCall, TokenCaller
from scp_images.http.deps import Services, services
from scp_images.http.request_body import upload_chunks
from scp_images.services.audit import AuditContext

C = TypeVar("C", bound=TokenCaller)

# A refused upload (a quota crossed, a bad format) whose client is still sending: read and drop this much
# more so the client, a browser above all, gets the answer instead of a reset connection; past it, close.
_DRAIN_BYTES = 64 << 20


def upload_status(status_of: Callable[[BaseException], int]) -> Callable[[BaseException], int]:
    """The edge's statuses for an upload's record: an upload that ends on an unexpected error is answered
    503 ("stopped before it was stored"), not 500."""

    def status(error: BaseException) -> int:
        return status_of(error) if isinstance(error, DomainError) else 503

    return status


async def receive_upload(
    request: Request,
    audit: AuditedCall,
    authorize: Callable[[], C],
    image_id: str,
    *,
    path_id: Callable[[str], str] = str,
    target: ImageStatus = ImageStatus.ACTIVE,
    input_format: str | None = None,
    format_from_image: bool = False,
) -> C:
    """An edge's upload handler without its answer: authorize (on a thread; the edge's own check), take a
    transfer slot, run the upload; a refused or failed one is recorded with the edge's status. ``path_id``
    is what the edge makes of the path's image id, checked once a slot is held. The bytes' format is
    detected, or must be ``input_format`` (or, ``format_from_image``, what the image's formats name).
    Returns the call."""
    svc = services(request)
    try:
        call = await anyio.to_thread.run_sync(authorize)
        release = svc.transfers.acquire()
        try:
            context = replace(audit.context(call), status_of=upload_status(audit.status_of))
            declared = _Declared(input_format, format_from_image)
            await _run_upload(svc, call.principal, path_id(image_id), request, context, target, declared)
        finally:
            release()
    except Exception as exc:
        await anyio.to_thread.run_sync(audit.failed, exc)
        raise
    return call


@dataclass(frozen=True, slots=True)
class _Declared:
    input_format: str | None
    from_image: bool


async def _drain(stream: AsyncIterator[bytes]) -> None:
    left = _DRAIN_BYTES
    try:
        while left > 0:
            left -= len(await stream.__anext__())
    except Exception:  # the end of the body, a disconnect or the body read timeout: nothing more to read
        return


async def _run_upload(
    svc: Services,
    principal: Principal,
    image_id: str,
    request: Request,
    context: AuditContext,
    target: ImageStatus = ImageStatus.ACTIVE,
    declared: _Declared | None = None,
) -> None:
    """Claim the queued image, stream the request body through the ingest pipeline, and wait for the
    result. The upload's record is written when it ends: with the activation, or with the image queued
    again or killed (an error's status and code)."""
    worker = f"upload:{context.request_id}"
    length = request.headers.get("content-length", "")
    total = int(length) if length.isascii() and length.isdigit() and len(length) <= 19 else None
    fence = await anyio.to_thread.run_sync(
        lambda: svc.images.begin_upload(
            principal,
            image_id,
            worker,
            total,
            request_id=context.request_id,
            staging=target is ImageStatus.UPLOADING,
            input_format=declared.input_format if declared else None,
            format_from_image=declared.from_image if declared else False,
        )
    )
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
