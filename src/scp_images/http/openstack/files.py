"""``/image/v2/images/{id}/file`` (upload and download), ``…/stage`` and ``…/import``: the bytes go through
the shared transfers (``http/transfers``), as the SCP API's do; v2 downloads are never redirected, because
keystoneauth would hand the token to the redirect's target."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import InvalidRequest
from scp_images.domain.image import ImageStatus
from scp_images.domain.principal import Action
from scp_images.http.openstack.audit import audited
from scp_images.http.openstack.auth import TokenCall, authorize
from scp_images.http.openstack.discovery import check_import_stores
from scp_images.http.openstack.errors import UnsupportedMedia
from scp_images.http.openstack.images import image_id, json_body
from scp_images.http.request_body import RawBody, media_type, raw_body
from scp_images.http.responses import empty_response
from scp_images.http.transfers.download import file_response
from scp_images.http.transfers.upload import receive_upload

router = APIRouter()
_OCTET_STREAM = "application/octet-stream"
# No image data to answer (staged bytes are not the image's until the import call): 204, as Glance.
_NO_DATA = frozenset({ImageStatus.QUEUED, ImageStatus.IMPORTING, ImageStatus.KILLED, ImageStatus.UPLOADING})


def _media(request: Request) -> str:
    return media_type(request.headers.get("content-type") or _OCTET_STREAM)


@router.put("/v2/images/{image}/file")
async def upload(request: Request, image: str) -> Response:
    return await _receive(request, image, ImageStatus.ACTIVE)


async def _receive(request: Request, image: str, target: ImageStatus) -> Response:
    """The bytes of ``…/file`` (the image ends active) or ``…/stage`` (it waits in uploading), audited as
    an upload."""

    def authorized() -> TokenCall:
        call = authorize(request, Action.IMPORT_IMAGE)
        if _media(request) != _OCTET_STREAM:
            raise UnsupportedMedia(_media(request), (_OCTET_STREAM,))
        return call

    audit = audited(request, AuditAction.IMAGE_UPLOAD, 204, image_id=image)
    await receive_upload(
        request, audit, authorized, image, path_id=image_id, target=target, format_from_image=True
    )
    return empty_response(204)


@router.get("/v2/images/{image}/file")
def download(request: Request, image: str) -> Response:
    call = authorize(request, Action.SHOW_IMAGE)
    shown = call.svc.images.show(call.principal, image_id(image))
    if shown.status in _NO_DATA:
        return empty_response(204)  # Glance: an image without data answers 204
    # Streamed even where SCP downloads redirect: keystoneauth would send X-Auth-Token on to the store.
    streamed = replace(call.svc.images.download(call.principal, shown.id), redirect=None)
    return file_response(request, streamed, {}, call.request_id)


def _method(body: Any) -> tuple[str, str | None]:
    method = body.get("method") if isinstance(body, dict) else None
    name = method.get("name") if isinstance(method, dict) else None
    if name == "web-download":
        uri = method.get("uri") if isinstance(method, dict) else None
        if not isinstance(uri, str) or not uri:
            raise InvalidRequest(reason="web-download needs method.uri")
        return name, uri
    if name == "glance-direct":
        return name, None
    raise InvalidRequest(reason="method.name must be glance-direct or web-download")


@router.post("/v2/images/{image}/import")
def import_image(request: Request, image: str, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.IMAGE_IMPORT, 202, image_id=image) as audit:
        call = authorize(request, Action.IMPORT_IMAGE)
        body = json_body(raw, call.svc.limits.max_body_bytes)
        _, uri = _method(body)
        check_import_stores(body, request.headers.get("x-image-meta-store"), call.svc.store)
        if uri is not None:
            call.svc.images.start_import(
                call.principal, image_id(image), uri, audit.context(call), format_from_image=True
            )
        else:
            call.svc.images.finish_staged(call.principal, image_id(image), audit.context(call))
    return empty_response(202)


@router.put("/v2/images/{image}/stage")
async def stage(request: Request, image: str) -> Response:
    """glance-direct's first half: the bytes pass the whole pipeline now; the image waits in uploading."""
    return await _receive(request, image, ImageStatus.UPLOADING)
