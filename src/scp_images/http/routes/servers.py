"""/v1/servers/{id}/images: in the contract, but this service hosts no servers, so every server is unknown."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.errors import ServerNotFound
from scp_images.domain.principal import Action
from scp_images.http.deps import services
from scp_images.http.request_body import RawBody, raw_body
from scp_images.http.request_models import ServerCreateImageRequestBody, parse_body

router = APIRouter()


@router.post("/v1/servers/{server_id}/images")
def create_server_image(request: Request, server_id: str, raw: RawBody = Depends(raw_body)) -> Response:
    svc = services(request)
    svc.guard.authorize(request, Action.CREATE_SERVER_IMAGE)
    parse_body(ServerCreateImageRequestBody, raw, limit=svc.limits.max_body_bytes)
    raise ServerNotFound(server_id=server_id[:80])
