"""``/v2/info/*``: what this service offers, as Glance's discovery API (``glance/api/v2/discovery.py``)
names it: the import methods and the one store (its detail for admins only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.errors import AdminRequired, InvalidRequest, UnknownStore
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


def check_import_stores(body: dict[str, Any], header: str | None, store: StoreDescription) -> None:
    """An import's ``stores``, ``all_stores`` and ``X-Image-Meta-Store``, checked as Glance checks them
    (``utils.get_stores_from_request``): only the one store may be named (409 for another)."""
    for flag in ("all_stores", "all_stores_must_succeed"):
        if not isinstance(body.get(flag, False), bool):
            raise InvalidRequest(reason=f"{flag} must be true or false")
    named = body.get("stores")
    if body.get("all_stores", False) and (named is not None or header is not None):
        raise InvalidRequest(reason="all_stores cannot be sent with stores or X-Image-Meta-Store")
    if named is not None and header is not None:
        raise InvalidRequest(reason="send stores or X-Image-Meta-Store, not both")
    if named is not None and (not isinstance(named, list) or not all(isinstance(s, str) for s in named)):
        raise InvalidRequest(reason="stores must be a list of store ids")
    for wanted in named if named is not None else [header] if header is not None else []:
        if wanted != store.id:
            raise UnknownStore(store=wanted[:80])
