"""``GET /endpoints``: the IAM endpoint catalog, so SCP clients configured with only an auth URL
(the Go SDK looks up ``service_type`` ``scp-virtualserver`` for its region) find this server."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.principal import Action
from scp_images.http.deps import services
from scp_images.http.public_url import public_base_url
from scp_images.http.responses import json_response

router = APIRouter()

SERVICE_TYPE = "scp-virtualserver"


@router.get("/endpoints")
def list_endpoints(request: Request) -> Response:
    svc = services(request)
    call = svc.guard.authorize(request, Action.LIST_ENDPOINTS)
    region = svc.limits.region
    entry = {
        "region": region,
        "service_type": SERVICE_TYPE,
        "service_name": "virtualserver",
        "url": public_base_url(request),
    }
    return json_response({"endpoints": [entry]}, headers=call.headers)
