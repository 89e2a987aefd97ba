"""/v1/import-sources (extension): the buckets and prefixes the caller's account may import from."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.principal import Action
from scp_images.http.deps import services
from scp_images.http.responses import json_response
from scp_images.http.schemas import import_sources_body

router = APIRouter()


@router.get("/v1/import-sources")
def list_import_sources(request: Request) -> Response:
    svc = services(request)
    call = svc.guard.authorize(request, Action.LIST_IMPORT_SOURCES)
    grants = svc.source_grants.list_own(call.principal)
    return json_response(import_sources_body(grants), headers=call.headers)
