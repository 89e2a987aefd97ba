"""Keystone's project reads as a non-admin member sees them: its own project, and 403 for any other
project or for the list. ``openstack image add project`` looks the member's project up first and takes a
403 to mean "use the id as given" (osc's ``find_project_id_sdk``); a 404 would stop it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.errors import Forbidden
from scp_images.domain.principal import Principal
from scp_images.http.openstack.auth import authorize
from scp_images.http.openstack.identity import DOMAIN, identity_url
from scp_images.http.responses import json_response

router = APIRouter()


def _project(request: Request, principal: Principal) -> dict[str, Any]:
    return {
        "id": principal.account_id,
        "name": principal.account_name,
        "domain_id": DOMAIN["id"],
        "parent_id": DOMAIN["id"],
        "is_domain": False,
        "enabled": True,
        "description": "",
        "tags": [],
        "options": {},
        "links": {"self": f"{identity_url(request)}/v3/projects/{principal.account_id}"},
    }


@router.get("/v3/projects/{project_id}")
def show_project(request: Request, project_id: str) -> Response:
    principal = authorize(request, None).principal
    if project_id != principal.account_id:
        raise Forbidden(action="identity:get_project")
    return json_response({"project": _project(request, principal)})


@router.get("/v3/projects")
def list_projects(request: Request) -> Response:
    authorize(request, None)
    raise Forbidden(action="identity:list_projects")
