"""``/v2/info/*``: what this service offers, as Glance's discovery API (``glance/api/v2/discovery.py``)
names it: the import methods and the one store (its detail for admins only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.errors import AdminRequired
from scp_images.http.deps import StoreDescription
from scp_images.http.openstack.auth import authorize
from scp_images.http.responses import json_response

router = APIRouter()

IMPORT_METHODS = ("glance-direct", "web-download")


@router.get("/v2/info/import")
def info_import(request: Request) -> Response:
    authorize(request, None)
    methods = {"description": "Import methods available.", "type": "array", "value": list(IMPORT_METHODS)}
    return json_response({"import-methods": methods})


def store_entry(store: StoreDescription) -> dict[str, Any]:
    """Glance's entry for a store: its flags are the strings ``"true"``, as Glance sends them."""
    return {"id": store.id, "description": store.description, "default": "true"}


@router.get("/v2/info/stores")
def info_stores(request: Request) -> Response:
    call = authorize(request, None)
    return json_response({"stores": [store_entry(call.svc.store)]})


@router.get("/v2/info/stores/detail")
def info_stores_detail(request: Request) -> Response:
    """Admins only, as Glance's ``stores_info_detail`` policy. No backend internals (a directory, a
    bucket): the properties are empty and the weight Glance's default."""
    call = authorize(request, None)
    if not call.principal.is_admin:
        raise AdminRequired(what="/v2/info/stores/detail")
    store = call.svc.store
    detail = {**store_entry(store), "type": store.kind, "properties": {}, "weight": 0}
    return json_response({"stores": [detail]})
