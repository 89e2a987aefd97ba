"""/v2/images/{id}/file: download (with Range) and the Glance-compatible direct upload. Both are the shared
transfers (``http/transfers``) with this edge's signature check and headers."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.audit import AuditAction
from scp_images.domain.principal import Action
from scp_images.http.audit import audited
from scp_images.http.deps import services
from scp_images.http.responses import empty_response
from scp_images.http.transfers.download import file_response
from scp_images.http.transfers.upload import receive_upload

router = APIRouter()


@router.get("/v2/images/{image_id}/file")
def download_image(request: Request, image_id: str) -> Response:
    svc = services(request)
    call = svc.guard.authorize(request, Action.SHOW_IMAGE)
    download = svc.images.download(call.principal, image_id)
    return file_response(request, download, call.headers, call.request_id)


@router.put("/v2/images/{image_id}/file")
async def upload_image(request: Request, image_id: str) -> Response:
    """The owner streams the bytes of a queued image; they pass the same pipeline as imports. Their
    format is detected; the ``input_format`` query parameter (our extension) declares it (raw must be)."""
    audit = audited(request, AuditAction.IMAGE_UPLOAD, 204, image_id=image_id)
    guard = services(request).guard
    call = await receive_upload(
        request,
        audit,
        lambda: guard.authorize(request, Action.IMPORT_IMAGE),
        image_id,
        input_format=request.query_params.get("input_format") or None,
    )
    return empty_response(204, call.headers)
