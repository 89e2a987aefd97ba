"""``/image/v2/images/{id}/members``: Glance's member calls over ``MemberService``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import InvalidRequest
from scp_images.domain.member import MemberStatus
from scp_images.domain.principal import Action
from scp_images.http.openstack.audit import audited
from scp_images.http.openstack.auth import authorize
from scp_images.http.openstack.images import image_id, json_body
from scp_images.http.openstack.views import member_v2
from scp_images.http.request_body import RawBody, raw_body
from scp_images.http.responses import empty_response, json_response
from scp_images.services.members import parse_member_id

router = APIRouter()


def _field(request: Request, raw: RawBody, name: str, limit: int) -> Any:
    body = json_body(raw, limit)
    if not isinstance(body, dict) or not isinstance(body.get(name), str):
        raise InvalidRequest(reason=f"the body must be an object with a string {name!r}")
    return body[name]


@router.get("/v2/images/{image}/members")
def list_members(request: Request, image: str) -> Response:
    call = authorize(request, Action.LIST_IMAGE_MEMBERS)
    members = call.svc.members.list(call.principal, image_id(image))
    return json_response({"members": [member_v2(m) for m in members], "schema": "/v2/schemas/members"})


@router.post("/v2/images/{image}/members")
def add_member(request: Request, image: str, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.MEMBER_ADD, 200, image_id=image) as audit:
        call = authorize(request, Action.CREATE_IMAGE_MEMBER)
        member_id = parse_member_id(_field(request, raw, "member", call.svc.limits.max_body_bytes))
        member = call.svc.members.add(call.principal, image_id(image), member_id, audit.context(call))
    return json_response(member_v2(member))


@router.get("/v2/images/{image}/members/{member_id}")
def show_member(request: Request, image: str, member_id: str) -> Response:
    call = authorize(request, Action.SHOW_IMAGE_MEMBER)
    return json_response(member_v2(call.svc.members.get(call.principal, image_id(image), member_id)))


@router.put("/v2/images/{image}/members/{member_id}")
def set_member(request: Request, image: str, member_id: str, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.MEMBER_STATUS, 200, image_id=image, member_id=member_id) as audit:
        call = authorize(request, Action.SET_IMAGE_MEMBER)
        answer = _status(_field(request, raw, "status", call.svc.limits.max_body_bytes))
        member = call.svc.members.set_status(
            call.principal, image_id(image), member_id, answer, audit.context(call)
        )
    return json_response(member_v2(member))


def _status(value: str) -> MemberStatus:
    try:
        return MemberStatus(value)
    except ValueError:
        raise InvalidRequest(reason="status must be pending, accepted or rejected") from None


@router.delete("/v2/images/{image}/members/{member_id}")
def remove_member(request: Request, image: str, member_id: str) -> Response:
    with audited(request, AuditAction.MEMBER_REMOVE, 204, image_id=image, member_id=member_id) as audit:
        call = authorize(request, Action.DELETE_IMAGE_MEMBER)
        call.svc.members.remove(call.principal, image_id(image), member_id, audit.context(call))
    return empty_response(204)
