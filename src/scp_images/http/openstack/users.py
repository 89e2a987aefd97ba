"""Keystone's user read as a non-admin sees it: its own user (the key, ``user.id`` = access key, the id its
tokens carry), and 403 for any other, as Keystone's ``identity:get_user`` policy answers an owner-only
caller."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.errors import Forbidden
from scp_images.http.openstack.auth import authorize
from scp_images.http.openstack.identity import DOMAIN, identity_url
from scp_images.http.responses import json_response

router = APIRouter()


@router.get("/v3/users/{user_id}")
def show_user(request: Request, user_id: str) -> Response:
    principal = authorize(request, None).principal
    if user_id != principal.access_key:
        raise Forbidden(action="identity:get_user")
    user = {
        "id": principal.access_key,
        "name": principal.user_name,
        "domain_id": DOMAIN["id"],
        "default_project_id": principal.account_id,
        "enabled": True,  # a disabled key has no valid token to ask with
        "password_expires_at": None,
        "options": {},
        "links": {"self": f"{identity_url(request)}/v3/users/{principal.access_key}"},
    }
    return json_response({"user": user})
