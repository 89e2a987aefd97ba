"""/v1/images/{id}/members and /v1/images/{id}/share."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.audit import AuditAction
from scp_images.domain.member import MemberStatus
from scp_images.domain.principal import Action
from scp_images.http.audit import audited
from scp_images.http.deps import services
from scp_images.http.request_body import RawBody, raw_body
from scp_images.http.request_models import ImageMemberCreateRequest, ImageMemberSetRequest, parse_body
from scp_images.http.responses import empty_response, json_response
from scp_images.http.schemas import member_body

router = APIRouter()


def _limit(request: Request) -> int:
    return int(services(request).limits.max_body_bytes)


@router.get("/v1/images/{image_id}/members")
def list_members(request: Request, image_id: str) -> Response:
    svc = services(request)
    call = svc.guard.authorize(request, Action.LIST_IMAGE_MEMBERS)
    members = svc.members.list(call.principal, image_id)
    return json_response({"members": [member_body(m) for m in members]}, headers=call.headers)


@router.post("/v1/images/{image_id}/members")
def create_member(request: Request, image_id: str, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.MEMBER_ADD, 200, image_id=image_id) as audit:
        svc = services(request)
        call = svc.guard.authorize(request, Action.CREATE_IMAGE_MEMBER)
        body = parse_body(ImageMemberCreateRequest, raw, limit=_limit(request))
        member = svc.members.add(call.principal, image_id, body.member_id, audit.context(call))
    return json_response(member_body(member), headers=call.headers)


@router.get("/v1/images/{image_id}/members/{member_id}")
def show_member(request: Request, image_id: str, member_id: str) -> Response:
    svc = services(request)
    call = svc.guard.authorize(request, Action.SHOW_IMAGE_MEMBER)
    return json_response(
        member_body(svc.members.get(call.principal, image_id, member_id)), headers=call.headers
    )


@router.put("/v1/images/{image_id}/members/{member_id}")
def update_member(
    request: Request, image_id: str, member_id: str, raw: RawBody = Depends(raw_body)
) -> Response:
    with audited(request, AuditAction.MEMBER_STATUS, 200, image_id=image_id, member_id=member_id) as audit:
        svc = services(request)
        call = svc.guard.authorize(request, Action.SET_IMAGE_MEMBER)
        body = parse_body(ImageMemberSetRequest, raw, limit=_limit(request))
        status = MemberStatus(body.status)
        member = svc.members.set_status(call.principal, image_id, member_id, status, audit.context(call))
    return json_response(member_body(member), headers=call.headers)


@router.delete("/v1/images/{image_id}/members/{member_id}")
def delete_member(request: Request, image_id: str, member_id: str) -> Response:
    with audited(request, AuditAction.MEMBER_REMOVE, 204, image_id=image_id, member_id=member_id) as audit:
        svc = services(request)
        call = svc.guard.authorize(request, Action.DELETE_IMAGE_MEMBER)
        svc.members.remove(call.principal, image_id, member_id, audit.context(call))
    return empty_response(204, call.headers)


@router.post("/v1/images/{image_id}/share")
def share_image(request: Request, image_id: str) -> Response:
    """No body is expected (scpv2 sends Content-Length: 0 and no Content-Type); any body is ignored."""
    with audited(request, AuditAction.IMAGE_SHARE, 202, image_id=image_id) as audit:
        svc = services(request)
        call = svc.guard.authorize(request, Action.CREATE_SHARING_IMAGE)
        svc.members.share(call.principal, image_id, audit.context(call))
    return empty_response(202, call.headers)
