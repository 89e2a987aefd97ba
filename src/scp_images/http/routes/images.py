"""/v1/images and /v1/pending-images: show, list, create, update, delete, import."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import InvalidRequest
from scp_images.domain.image import ImageSpec
from scp_images.domain.principal import Action
from scp_images.domain.properties import scp_tag
from scp_images.http.audit import audited
from scp_images.http.deps import Services, services
from scp_images.http.list_query import scp_list_query, scp_pending_query
from scp_images.http.request_body import RawBody, raw_body
from scp_images.http.request_models import (
    ImageCreateRequest,
    ImageImportRequest,
    ImageSetRequest,
    ImageUploadCreateRequest,
    parse_body,
)
from scp_images.http.responses import empty_response, json_response
from scp_images.http.schemas import image_list_wire, image_wire, import_body

router = APIRouter()


def _body(request: Request, model: Any, raw: RawBody) -> Any:
    return parse_body(model, raw, limit=services(request).limits.max_body_bytes)


@router.get("/v1/images")
async def list_images(request: Request) -> Response:
    return await read_list(services(request), request)


async def read_list(svc: Services, request: Request, _: str = "") -> Response:
    """The hot read (the pipeline's route table calls it directly, see application.py)."""
    return await svc.offload(_list_images, svc, request)


def _list_images(svc: Services, request: Request) -> Response:
    call = svc.guard.authorize(request, Action.LIST_IMAGES)
    images = svc.images.list_visible(call.principal, scp_list_query(request.query_params))
    return json_response(image_list_wire(images, call.version.version), headers=call.headers)


@router.get("/v1/pending-images")
def list_pending_images(request: Request) -> Response:
    svc = services(request)
    call = svc.guard.authorize(request, Action.LIST_PENDING_IMAGES)
    query = scp_pending_query(request.query_params)
    images = svc.images.pending(call.principal, query)
    return json_response(image_list_wire(images, call.version.version), headers=call.headers)


@router.post("/v1/images")
def create_image(request: Request, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.IMAGE_CREATE, 200) as audit:
        svc = services(request)
        call = svc.guard.authorize(request, Action.CREATE_IMAGE)
        image = svc.images.create(call.principal, _new_image(request, raw), audit.context(call))
    return json_response(image_wire(image, call.version.version), headers=call.headers)


def _new_image(request: Request, raw: RawBody) -> ImageSpec:
    direct_upload = request.query_params.get("source") == "upload"
    body = _body(request, ImageUploadCreateRequest if direct_upload else ImageCreateRequest, raw)
    if direct_upload and body.url is not None:
        raise InvalidRequest(
            reason="an image made with source=upload gets its bytes from PUT /v2/images/{id}/file, not url"
        )
    return ImageSpec(
        name=body.name,
        os_distro=body.os_distro.value,
        url=body.url,
        container_format=body.container_format,
        disk_format=body.disk_format,
        min_disk=body.min_disk,
        min_ram=body.min_ram,
        protected=body.protected,
        visibility=body.visibility,
        tags=tuple(scp_tag(tag.key, tag.value) for tag in body.tags or ()),
    )


@router.get("/v1/images/{image_id}")
async def show_image(request: Request, image_id: str) -> Response:
    return await read_one(services(request), request, image_id)


async def read_one(svc: Services, request: Request, image_id: str) -> Response:
    """The hot read (the pipeline's route table calls it directly, see application.py)."""
    return await svc.offload(_show_image, svc, request, image_id)


def _show_image(svc: Services, request: Request, image_id: str) -> Response:
    call = svc.guard.authorize(request, Action.SHOW_IMAGE)
    image = svc.images.show(call.principal, image_id)
    return json_response(image_wire(image, call.version.version), headers=call.headers)


@router.put("/v1/images/{image_id}")
def update_image(request: Request, image_id: str, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.IMAGE_UPDATE, 200, image_id=image_id) as audit:
        svc = services(request)
        call = svc.guard.authorize(request, Action.SET_IMAGE)
        changes = _body(request, ImageSetRequest, raw).model_dump(exclude_unset=True)
        image = svc.images.update(call.principal, image_id, changes, audit.context(call))
    return json_response(image_wire(image, call.version.version), headers=call.headers)


@router.delete("/v1/images/{image_id}")
def delete_image(request: Request, image_id: str) -> Response:
    with audited(request, AuditAction.IMAGE_DELETE, 204, image_id=image_id) as audit:
        svc = services(request)
        call = svc.guard.authorize(request, Action.DELETE_IMAGE)
        svc.images.delete(call.principal, image_id, audit.context(call))
    return empty_response(204, call.headers)


@router.post("/v1/images/{image_id}/import")
def import_image(request: Request, image_id: str, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.IMAGE_IMPORT, 202, image_id=image_id) as audit:
        svc = services(request)
        call = svc.guard.authorize(request, Action.IMPORT_IMAGE)
        body = _body(request, ImageImportRequest, raw)
        svc.images.start_import(
            call.principal, image_id, body.url, audit.context(call), input_format=body.input_format
        )
    return empty_response(202, call.headers)


@router.get("/v1/images/{image_id}/import")
def show_import(request: Request, image_id: str) -> Response:
    svc = services(request)
    call = svc.guard.authorize(request, Action.SHOW_IMAGE)
    job = svc.images.import_status(call.principal, image_id)
    return json_response(import_body(job, call.language), headers=call.headers)
