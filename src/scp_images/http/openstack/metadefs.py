"""``/image/v2/metadefs/*`` and ``/v2/schemas/metadefs/*``: Glance's metadata definitions over
``MetadefService``. Routes read the body, call one use case and shape Glance's answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import InvalidRequest, NotFound
from scp_images.domain.metadefs import (
    Association,
    MetadefObject,
    Namespace,
    NamespaceDetail,
    PropertyDefinition,
    Tag,
    Visibility,
    check_name,
    parse_association,
    parse_namespace,
    parse_object,
    parse_property,
    parse_tag,
    parse_tags,
)
from scp_images.http.openstack.audit import audited
from scp_images.http.openstack.auth import TokenCall, authorize
from scp_images.http.openstack.images import json_body
from scp_images.http.openstack.metadef_schemas import METADEF_SCHEMAS
from scp_images.http.request_body import RawBody, raw_body
from scp_images.http.responses import empty_response, json_response
from scp_images.http.schemas import rfc3339
from scp_images.services.metadefs import MetadefService

router = APIRouter()
_BASE = "/v2/metadefs/namespaces"
DEFAULT_LIMIT = 25  # Glance's limit_param_default
MAX_LIMIT = 1000  # Glance's api_limit_max
_SORT_KEYS = ("created_at", "updated_at", "namespace")
_TRUE = ("1", "t", "true", "on", "y", "yes")


def _body(call: TokenCall, raw: RawBody) -> Any:
    return json_body(raw, call.svc.limits.max_body_bytes)


def _service(call: TokenCall) -> MetadefService:
    return call.svc.metadefs


def _times(body: dict[str, Any], item: Any) -> dict[str, Any]:
    if item.created_at is not None:
        body["created_at"] = rfc3339(item.created_at)
    if item.updated_at is not None:
        body["updated_at"] = rfc3339(item.updated_at)
    return body


def _set(body: dict[str, Any], **values: Any) -> dict[str, Any]:
    body.update({k: v for k, v in values.items() if v is not None})
    return body


def namespace_view(namespace: Namespace) -> dict[str, Any]:
    body = _set(
        {"namespace": namespace.namespace},
        display_name=namespace.display_name,
        description=namespace.description,
    )
    body.update(visibility=namespace.visibility.value, protected=namespace.protected, owner=namespace.owner)
    _times(body, namespace)
    body["self"] = f"{_BASE}/{namespace.namespace}"
    body["schema"] = "/v2/schemas/metadefs/namespace"
    return body


def association_view(association: Association) -> dict[str, Any]:
    body = _set(
        {"name": association.name},
        prefix=association.prefix,
        properties_target=association.properties_target,
    )
    return _times(body, association)


def property_view(prop: PropertyDefinition) -> dict[str, Any]:
    return {"name": prop.name, **prop.schema}


def object_view(namespace: str, obj: MetadefObject) -> dict[str, Any]:
    body = _set({"name": obj.name}, description=obj.description)
    if obj.required:
        body["required"] = list(obj.required)
    body["properties"] = {name: {"name": name, **schema} for name, schema in obj.properties.items()}
    _times(body, obj)
    body["self"] = f"{_BASE}/{namespace}/objects/{obj.name}"
    body["schema"] = "/v2/schemas/metadefs/object"
    return body


def tag_view(tag: Tag) -> dict[str, Any]:
    return _times({"name": tag.name}, tag)


def detail_view(detail: NamespaceDetail) -> dict[str, Any]:
    """A namespace with what it holds; empty parts are left out, as Glance does."""
    name = detail.namespace.namespace
    body = namespace_view(detail.namespace)
    if detail.associations:
        body["resource_type_associations"] = [association_view(a) for a in detail.associations]
    if detail.properties:
        body["properties"] = {p.name: property_view(p) for p in detail.properties}
    if detail.objects:
        body["objects"] = [object_view(name, o) for o in detail.objects]
    if detail.tags:
        body["tags"] = [{"name": t.name} for t in detail.tags]
    return body


def _prefixed(detail: NamespaceDetail, resource_type: str) -> NamespaceDetail:
    """``?resource_type=``: property names as that resource type sees them (its prefix first)."""
    prefix = next((a.prefix for a in detail.associations if a.name == resource_type), None)
    if not prefix:
        return detail
    properties = tuple(PropertyDefinition(prefix + p.name, p.schema) for p in detail.properties)
    objects = tuple(
        MetadefObject(
            o.name,
            o.description,
            tuple(prefix + r for r in o.required),
            {prefix + k: v for k, v in o.properties.items()},
            o.created_at,
            o.updated_at,
        )
        for o in detail.objects
    )
    return NamespaceDetail(detail.namespace, detail.associations, properties, objects, detail.tags)


# --- schemas ---


@router.get("/v2/schemas/metadefs/{name}")
def metadef_schema(request: Request, name: str) -> Response:
    authorize(request, None)
    make = METADEF_SCHEMAS.get(f"metadefs/{name}")
    if make is None:
        raise NotFound()
    return json_response(make())


# --- namespaces ---


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not value.isdigit() or len(value) > 9:
        raise InvalidRequest(reason="limit is a whole number of at least 0")
    return min(int(value), MAX_LIMIT)


def _choice(value: str | None, name: str, allowed: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if value not in allowed:
        raise InvalidRequest(reason=f"{name} is one of {', '.join(allowed)}")
    return value


def _list_page(request: Request, items: list[NamespaceDetail], limit: int) -> dict[str, Any]:
    from urllib.parse import urlencode

    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    body: dict[str, Any] = {
        "namespaces": [detail_view(d) for d in items],
        "first": _BASE + (f"?{urlencode(kept)}" if kept else ""),
        "schema": "/v2/schemas/metadefs/namespaces",
    }
    if items and len(items) == limit:
        body["next"] = f"{_BASE}?" + urlencode([*kept, ("marker", items[-1].namespace.namespace)])
    return body


@router.get(_BASE)
def list_namespaces(request: Request) -> Response:
    call = authorize(request, None)
    query = request.query_params
    limit = _limit(query.get("limit"))
    visibility = query.get("visibility")
    kinds = query.get("resource_types")
    page = _service(call).list_namespaces(
        call.principal,
        visibility=Visibility(_choice(visibility, "visibility", tuple(Visibility), "public"))
        if visibility
        else None,
        resource_types=tuple(k for k in (kinds or "").split(",") if k)[:32],
        marker=query.get("marker"),
        limit=limit,
        sort_key=_choice(query.get("sort_key"), "sort_key", _SORT_KEYS, "created_at"),
        descending=_choice(query.get("sort_dir"), "sort_dir", ("asc", "desc"), "desc") == "desc",
    )
    return json_response(_list_page(request, page, limit))


@router.post(_BASE)
def create_namespace(request: Request, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.METADEF_CREATE, 201) as audit:
        call = authorize(request, None)
        spec = parse_namespace(_body(call, raw))
        detail = _service(call).create_namespace(call.principal, spec, audit.context(call))
    body = detail_view(detail)
    return json_response(body, 201, {"Location": body["self"]})


@router.get(_BASE + "/{namespace}")
def show_namespace(request: Request, namespace: str) -> Response:
    call = authorize(request, None)
    detail = _service(call).show_namespace(call.principal, namespace)
    resource_type = request.query_params.get("resource_type")
    if resource_type:
        detail = _prefixed(detail, resource_type)
    return json_response(detail_view(detail))


@router.put(_BASE + "/{namespace}")
def replace_namespace(request: Request, namespace: str, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.METADEF_UPDATE, 200) as audit:
        call = authorize(request, None)
        spec = parse_namespace(_body(call, raw))
        updated = _service(call).replace_namespace(call.principal, namespace, spec, audit.context(call))
    return json_response(namespace_view(updated))


@router.delete(_BASE + "/{namespace}")
def delete_namespace(request: Request, namespace: str) -> Response:
    with audited(request, AuditAction.METADEF_DELETE, 204) as audit:
        call = authorize(request, None)
        _service(call).delete_namespace(call.principal, namespace, audit.context(call))
    return empty_response(204)


def _delete_all(request: Request, namespace: str, kind: str) -> Response:
    with audited(request, AuditAction.METADEF_DELETE, 204) as audit:
        call = authorize(request, None)
        _service(call).delete_all(call.principal, namespace, kind, audit.context(call))
    return empty_response(204)


def _delete_one(request: Request, namespace: str, kind: str, name: str) -> Response:
    with audited(request, AuditAction.METADEF_DELETE, 204) as audit:
        call = authorize(request, None)
        _service(call).delete_one(call.principal, namespace, kind, name, audit.context(call))
    return empty_response(204)


# --- objects ---


@router.get(_BASE + "/{namespace}/objects")
def list_objects(request: Request, namespace: str) -> Response:
    call = authorize(request, None)
    objects = _service(call).list_objects(call.principal, namespace)
    body = {"objects": [object_view(namespace, o) for o in objects], "schema": "/v2/schemas/metadefs/objects"}
    return json_response(body)


@router.post(_BASE + "/{namespace}/objects")
def create_object(request: Request, namespace: str, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.METADEF_CREATE, 201) as audit:
        call = authorize(request, None)
        obj = parse_object(_body(call, raw))
        created = _service(call).create_object(call.principal, namespace, obj, audit.context(call))
    return json_response(object_view(namespace, created), 201)


@router.delete(_BASE + "/{namespace}/objects")
def delete_objects(request: Request, namespace: str) -> Response:
    return _delete_all(request, namespace, "objects")


@router.get(_BASE + "/{namespace}/objects/{name}")
def show_object(request: Request, namespace: str, name: str) -> Response:
    call = authorize(request, None)
    return json_response(object_view(namespace, _service(call).show_object(call.principal, namespace, name)))


@router.put(_BASE + "/{namespace}/objects/{name}")
def replace_object(request: Request, namespace: str, name: str, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.METADEF_UPDATE, 200) as audit:
        call = authorize(request, None)
        obj = parse_object(_body(call, raw))
        updated = _service(call).replace_object(call.principal, namespace, name, obj, audit.context(call))
    return json_response(object_view(namespace, updated))


@router.delete(_BASE + "/{namespace}/objects/{name}")
def delete_object(request: Request, namespace: str, name: str) -> Response:
    return _delete_one(request, namespace, "objects", name)


# --- properties ---


@router.get(_BASE + "/{namespace}/properties")
def list_properties(request: Request, namespace: str) -> Response:
    call = authorize(request, None)
    properties = _service(call).list_properties(call.principal, namespace)
    return json_response({"properties": {p.name: property_view(p) for p in properties}})


@router.post(_BASE + "/{namespace}/properties")
def create_property(request: Request, namespace: str, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.METADEF_CREATE, 201) as audit:
        call = authorize(request, None)
        prop = parse_property(_body(call, raw))
        created = _service(call).create_property(call.principal, namespace, prop, audit.context(call))
    return json_response(property_view(created), 201)


@router.delete(_BASE + "/{namespace}/properties")
def delete_properties(request: Request, namespace: str) -> Response:
    return _delete_all(request, namespace, "properties")


@router.get(_BASE + "/{namespace}/properties/{name}")
def show_property(request: Request, namespace: str, name: str) -> Response:
    call = authorize(request, None)
    return json_response(property_view(_service(call).show_property(call.principal, namespace, name)))


@router.put(_BASE + "/{namespace}/properties/{name}")
def replace_property(
    request: Request, namespace: str, name: str, raw: RawBody = Depends(raw_body)
) -> Response:
    with audited(request, AuditAction.METADEF_UPDATE, 200) as audit:
        call = authorize(request, None)
        prop = parse_property(_body(call, raw))
        updated = _service(call).replace_property(call.principal, namespace, name, prop, audit.context(call))
    return json_response(property_view(updated))


@router.delete(_BASE + "/{namespace}/properties/{name}")
def delete_property(request: Request, namespace: str, name: str) -> Response:
    return _delete_one(request, namespace, "properties", name)


# --- tags ---


@router.get(_BASE + "/{namespace}/tags")
def list_tags(request: Request, namespace: str) -> Response:
    call = authorize(request, None)
    tags = _service(call).list_tags(call.principal, namespace)
    return json_response({"tags": [{"name": t.name} for t in tags]})


@router.post(_BASE + "/{namespace}/tags")
def create_tags(request: Request, namespace: str, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.METADEF_CREATE, 201) as audit:
        call = authorize(request, None)
        names = parse_tags(_body(call, raw))
        append = request.headers.get("x-openstack-append", "").strip().lower() in _TRUE
        created = _service(call).create_tags(
            call.principal, namespace, names, append=append, context=audit.context(call)
        )
    return json_response({"tags": [{"name": t.name} for t in created]}, 201)


@router.delete(_BASE + "/{namespace}/tags")
def delete_tags(request: Request, namespace: str) -> Response:
    return _delete_all(request, namespace, "tags")


@router.get(_BASE + "/{namespace}/tags/{name}")
def show_tag(request: Request, namespace: str, name: str) -> Response:
    call = authorize(request, None)
    return json_response(tag_view(_service(call).show_tag(call.principal, namespace, name)))


@router.post(_BASE + "/{namespace}/tags/{name}")
def create_tag(request: Request, namespace: str, name: str) -> Response:
    """The body, if any, is not read: the path names the tag (as Glance)."""
    with audited(request, AuditAction.METADEF_CREATE, 201) as audit:
        call = authorize(request, None)
        tag = _service(call).create_tag(
            call.principal, namespace, check_name("tag", name), audit.context(call)
        )
    return json_response(tag_view(tag), 201)


@router.put(_BASE + "/{namespace}/tags/{name}")
def rename_tag(request: Request, namespace: str, name: str, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.METADEF_UPDATE, 200) as audit:
        call = authorize(request, None)
        new_name = parse_tag(_body(call, raw))
        tag = _service(call).rename_tag(call.principal, namespace, name, new_name, audit.context(call))
    return json_response(tag_view(tag))


@router.delete(_BASE + "/{namespace}/tags/{name}")
def delete_tag(request: Request, namespace: str, name: str) -> Response:
    return _delete_one(request, namespace, "tags", name)


# --- resource types ---


@router.get("/v2/metadefs/resource_types")
def list_resource_types(request: Request) -> Response:
    call = authorize(request, None)
    types = _service(call).list_resource_types(call.principal)
    return json_response({"resource_types": [_times({"name": t.name}, t) for t in types]})


@router.get(_BASE + "/{namespace}/resource_types")
def list_associations(request: Request, namespace: str) -> Response:
    call = authorize(request, None)
    associations = _service(call).list_associations(call.principal, namespace)
    return json_response({"resource_type_associations": [association_view(a) for a in associations]})


@router.post(_BASE + "/{namespace}/resource_types")
def associate(request: Request, namespace: str, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.METADEF_CREATE, 201) as audit:
        call = authorize(request, None)
        association = parse_association(_body(call, raw))
        created = _service(call).associate(call.principal, namespace, association, audit.context(call))
    return json_response(association_view(created), 201)


@router.delete(_BASE + "/{namespace}/resource_types/{name}")
def dissociate(request: Request, namespace: str, name: str) -> Response:
    with audited(request, AuditAction.METADEF_DELETE, 204) as audit:
        call = authorize(request, None)
        _service(call).dissociate(call.principal, namespace, name, audit.context(call))
    return empty_response(204)
