"""``/image/v2/images``: list, show, create, JSON-patch update, delete, tags, deactivate/reactivate, and the
schemas and discovery documents. Every call is the same ``ImageService`` call the SCP API makes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import ImageNotFound, InvalidRequest, NotFound
from scp_images.domain.image import Image, ImageSpec, Visibility, parse_image_id
from scp_images.domain.principal import Action
from scp_images.domain.properties import check_format_pair
from scp_images.http.audit import AuditedCall
from scp_images.http.deps import Services, services
from scp_images.http.list_query import glance_list_query
from scp_images.http.openstack.attributes import create_fields, document, split_attributes
from scp_images.http.openstack.audit import audited
from scp_images.http.openstack.auth import authorize
from scp_images.http.openstack.discovery import IMPORT_METHODS
from scp_images.http.openstack.errors import UnsupportedMedia
from scp_images.http.openstack.patch import PATCH_MEDIA_TYPES, PatchForm, apply_patch, parse_patch
from scp_images.http.openstack.schemas import SCHEMAS
from scp_images.http.openstack.views import image_v2
from scp_images.http.public_url import public_base_url
from scp_images.http.request_body import RawBody, json_document, media_type, raw_body
from scp_images.http.responses import empty_response, json_response

router = APIRouter()

IMPORT_HEADERS = {"OpenStack-image-import-methods": ",".join(IMPORT_METHODS)}
# Glance's minor versions, as a Glance with stores and without an image cache lists them (2.14 and 2.16
# are the cache API's); clients take the highest 2.x they know.
_MINORS = tuple(minor for minor in range(17, -1, -1) if minor not in (14, 16))


def image_id(value: str) -> str:
    """A path's image id; one that is not a UUID names no image (404, as Glance: the SDK's find_image
    asks for a name here and expects a 404)."""
    try:
        return parse_image_id(value)
    except InvalidRequest:
        raise ImageNotFound(image_id=value[:80]) from None


_id = image_id


def _versions(request: Request) -> dict[str, Any]:
    href = f"{public_base_url(request)}/image/v2/"
    return {
        "versions": [
            {
                "id": f"v2.{minor}",
                "status": "CURRENT" if minor == _MINORS[0] else "SUPPORTED",
                "links": [{"rel": "self", "href": href}],
            }
            for minor in _MINORS
        ]
    }


def versions_response(request: Request, status: int = 300) -> Response:
    return json_response(_versions(request), status)


@router.get("/")
def image_root(request: Request) -> Response:
    return versions_response(request)


@router.get("/versions")
def image_versions(request: Request) -> Response:
    return versions_response(request, 200)


@router.get("/v2/schemas/{name}")
def schema(request: Request, name: str) -> Response:
    authorize(request, None)
    if name not in SCHEMAS:
        raise NotFound()
    return json_response(SCHEMAS[name]())


def _page_links(request: Request, images: list[Image], limit: int) -> dict[str, str]:
    """Relative ``/v2/…`` links (both clients build on them); ``next`` only after a full page."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    links = {"first": "/v2/images" + (f"?{urlencode(kept)}" if kept else "")}
    if len(images) == limit and images:
        links["next"] = "/v2/images?" + urlencode([*kept, ("marker", images[-1].id)])
    return links


@router.get("/v2/images")
async def list_images(request: Request) -> Response:
    return await read_list(services(request), request)


async def read_list(svc: Services, request: Request, _: str = "") -> Response:
    """The hot read (the pipeline's route table calls it directly, see app.py). Reads as the SCP
    edge's: inline on SQLite, on the thread pool for a networked database."""
    return await svc.offload(_list_images, request)


def _list_images(request: Request) -> Response:
    call = authorize(request, Action.LIST_IMAGES)
    query = glance_list_query(request.query_params)
    images = call.svc.images.list_visible(call.principal, query)
    store = call.svc.store.id
    body: dict[str, Any] = {"images": [image_v2(i, store) for i in images], "schema": "/v2/schemas/images"}
    body.update(_page_links(request, images, query.limit))
    return json_response(body)


@router.get("/v2/images/{image_id}")
async def show_image(request: Request, image_id: str) -> Response:
    return await read_one(services(request), request, image_id)


async def read_one(svc: Services, request: Request, image_id: str) -> Response:
    """The hot read (the pipeline's route table calls it directly, see app.py)."""
    return await svc.offload(_show_image, request, image_id)


def _show_image(request: Request, image_id: str) -> Response:
    call = authorize(request, Action.SHOW_IMAGE)
    return json_response(image_v2(call.svc.images.show(call.principal, _id(image_id)), call.svc.store.id))


def json_body(raw: RawBody, limit: int, media_types: tuple[str, ...] = ("application/json",)) -> Any:
    """The body's JSON document; this edge names the media types it takes (415 for others)."""

    def check_media(content_type: str | None) -> None:
        media = media_type(content_type or media_types[0])
        if media not in media_types:
            raise UnsupportedMedia(media, media_types)

    return json_document(raw, limit, check_media)


def patch_form(content_type: str | None) -> PatchForm:
    """The patch's form by its media type (none sent: RFC 6902's); any other is a 415 whose
    ``Accept-Patch`` names both, as Glance's."""
    media = media_type(content_type or PatchForm.RFC_6902.value)
    try:
        return PatchForm(media)
    except ValueError:
        raise UnsupportedMedia(media, PATCH_MEDIA_TYPES, accept_patch=True) from None


@router.post("/v2/images")
def create_image(request: Request, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.IMAGE_CREATE, 201) as audit:
        call = authorize(request, Action.CREATE_IMAGE)
        data = json_body(raw, call.svc.limits.max_body_bytes)
        spec = new_image_spec(data, call.principal.account_id, admin=call.principal.is_admin)
        image = call.svc.images.create(call.principal, spec, audit.context(call))
    headers = {**IMPORT_HEADERS, "Location": f"{public_base_url(request)}/image/v2/images/{image.id}"}
    return json_response(image_v2(image, call.svc.store.id), 201, headers)


def new_image_spec(data: Any, account_id: str, *, admin: bool = False) -> ImageSpec:
    if not isinstance(data, dict):
        raise InvalidRequest(reason="the body must be a JSON object")
    fields, extras = create_fields(data, account_id, admin=admin)
    container_format = fields.get("container_format") or "bare"
    return ImageSpec(
        name=fields.get("name") or "",
        owner=fields.get("owner", ""),
        os_distro=fields.get("os_distro"),
        container_format=container_format,
        # An OVA's disk is a VMDK: ``container_format: ova`` alone declares both.
        disk_format=fields.get("disk_format") or ("vmdk" if container_format == "ova" else "qcow2"),
        min_disk=fields.get("min_disk", 0),
        min_ram=fields.get("min_ram", 0),
        protected=fields.get("protected", False),
        visibility=fields.get("visibility", Visibility.SHARED),  # Glance's default
        hidden=fields.get("os_hidden", False),
        tags=fields.get("tags", ()),
        properties=extras,
        name_optional=True,
    )


def _changes(image: Image, patched: dict[str, Any]) -> dict[str, Any]:
    owner = patched.pop("owner", image.owner)  # in the document only when an admin's patch set it
    fields, extras = split_attributes(patched)
    if owner != image.owner:
        fields["owner"] = owner
    if "name" in fields:
        fields["name"] = fields["name"] or ""
    for name in ("disk_format", "container_format"):
        if fields.get(name) is None:
            fields.pop(name, None)
    check_format_pair(
        fields.get("disk_format", image.disk_format), fields.get("container_format", image.container_format)
    )
    changes = {k: v for k, v in fields.items() if v != getattr(image, k)}
    if extras != image.properties:
        changes["properties"] = extras
    return changes


@router.patch("/v2/images/{image_id}")
def patch_image(request: Request, image_id: str, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.IMAGE_UPDATE, 200, image_id=image_id) as audit:
        return update_image(request, image_id, raw, audit)


def update_image(request: Request, image_id: str, raw: RawBody, audit: AuditedCall) -> Response:
    call = authorize(request, Action.SET_IMAGE)
    body = json_document(raw, call.svc.limits.max_body_bytes, patch_form)
    form = patch_form(raw.content_type)
    changes = parse_patch(body, form)
    admin = call.principal.is_admin
    # The patch applies to the image as it is under the row lock (owner only, even if empty).
    updated = call.svc.images.modify(
        call.principal,
        _id(image_id),
        lambda image: _changes(image, apply_patch(document(image), changes, form, admin=admin)),
        audit.context(call),
    )
    return json_response(image_v2(updated, call.svc.store.id))


@router.delete("/v2/images/{image_id}")
def delete_image(request: Request, image_id: str) -> Response:
    with audited(request, AuditAction.IMAGE_DELETE, 204, image_id=image_id) as audit:
        call = authorize(request, Action.DELETE_IMAGE)
        call.svc.images.delete(call.principal, _id(image_id), audit.context(call))
    return empty_response(204)


def _set_tag(request: Request, image_id: str, tag: str, add: bool, audit: AuditedCall) -> Response:
    call = authorize(request, Action.SET_IMAGE)

    def edit_tags(image: Image) -> dict[str, Any]:
        if not add and tag not in image.tags:
            raise NotFound("Tag {tag} is not on image {image_id}.", tag=tag[:80], image_id=image.id)
        if add and tag in image.tags:
            return {}  # adding a tag that is there is a no-op (Glance answers 204 too)
        return {"tags": (*image.tags, tag) if add else tuple(t for t in image.tags if t != tag)}

    call.svc.images.modify(call.principal, _id(image_id), edit_tags, audit.context(call))
    return empty_response(204)


@router.put("/v2/images/{image_id}/tags/{tag}")
def add_tag(request: Request, image_id: str, tag: str) -> Response:
    with audited(request, AuditAction.IMAGE_UPDATE, 204, image_id=image_id) as audit:
        return _set_tag(request, image_id, tag, True, audit)


@router.delete("/v2/images/{image_id}/tags/{tag}")
def remove_tag(request: Request, image_id: str, tag: str) -> Response:
    with audited(request, AuditAction.IMAGE_UPDATE, 204, image_id=image_id) as audit:
        return _set_tag(request, image_id, tag, False, audit)


_ACTIONS = {"deactivate": AuditAction.IMAGE_DEACTIVATE, "reactivate": AuditAction.IMAGE_REACTIVATE}


@router.post("/v2/images/{image_id}/actions/{action}")
def image_action(request: Request, image_id: str, action: str) -> Response:
    if action not in _ACTIONS:
        raise NotFound()
    with audited(request, _ACTIONS[action], 204, image_id=image_id) as audit:
        call = authorize(request, Action.SET_IMAGE)
        call.svc.images.set_deactivated(
            call.principal, _id(image_id), action == "deactivate", audit.context(call)
        )
    return empty_response(204)
