"""Metadata definitions (Glance's "metadefs"): namespaces of property definitions, objects, tags and
the resource types they apply to. Plain rules: what a definition may hold, its bounds, who may see it.

A namespace is ``public`` (everyone reads it) or ``private`` (its owner and admins do); only admins
create, change or delete definitions. A ``protected`` namespace, and everything in it, cannot be
deleted until protection is turned off.

Every size a tenant sends is bounded here (docs/security.md): names, texts, the keys and values of a
property definition (whose shape is fixed, so a definition nests at most two levels), and the number
of definitions of each kind."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from scp_images.domain.errors import Forbidden, InvalidRequest, MetadefAdminOnly
from scp_images.domain.principal import Principal

MAX_NAME = 80  # namespace, object, property, tag, resource type, prefix, properties_target (Glance's)
MAX_DISPLAY_NAME = 80
MAX_NAMESPACE_DESCRIPTION = 500  # Glance's schema bound
MAX_OWNER = 255
MAX_TEXT = 1000  # an object's description; a property's title, description, pattern, string values
MAX_LIST_ITEMS = 100  # enum, operators, required, items.enum
MAX_OBJECT_PROPERTIES = 100  # property definitions in one object
MAX_NAMESPACE_PROPERTIES = 256
MAX_NAMESPACE_OBJECTS = 256
MAX_NAMESPACE_TAGS = 1000  # also the most one request may create
MAX_NAMESPACE_ASSOCIATIONS = 32
MAX_NAMESPACES = 10_000  # in the whole deployment
MAX_RESOURCE_TYPES = 256  # in the whole deployment (associating an unknown name creates one)

LIMITS = {
    "namespaces": MAX_NAMESPACES,
    "objects": MAX_NAMESPACE_OBJECTS,
    "properties": MAX_NAMESPACE_PROPERTIES,
    "tags": MAX_NAMESPACE_TAGS,
    "resource_type_associations": MAX_NAMESPACE_ASSOCIATIONS,
    "resource_types": MAX_RESOURCE_TYPES,
}

_UNSAFE = re.compile(r"[\x00-\x1f\x7f/]")
PROPERTY_TYPES = ("array", "boolean", "integer", "number", "object", "string")
READ_ONLY = ("self", "schema", "created_at", "updated_at")


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class Namespace:
    namespace: str
    display_name: str | None
    description: str | None
    visibility: Visibility
    protected: bool
    owner: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Association:
    """A namespace applies to a resource type; ``prefix`` goes before its property names there."""

    name: str
    prefix: str | None = None
    properties_target: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ResourceType:
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PropertyDefinition:
    """``schema`` is the definition without its name (title, type, enum, …), as the tenant sent it."""

    name: str
    schema: dict[str, Any]
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MetadefObject:
    name: str
    description: str | None = None
    required: tuple[str, ...] = ()
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NamespaceSpec:
    """What a create or a replace (PUT) asks for; ``owner`` None means the caller's account."""

    namespace: str
    display_name: str | None = None
    description: str | None = None
    visibility: Visibility = Visibility.PRIVATE
    protected: bool = False
    owner: str | None = None
    associations: tuple[Association, ...] = ()
    properties: tuple[PropertyDefinition, ...] = ()
    objects: tuple[MetadefObject, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NamespaceDetail:
    namespace: Namespace
    associations: tuple[Association, ...] = ()
    properties: tuple[PropertyDefinition, ...] = ()
    objects: tuple[MetadefObject, ...] = ()
    tags: tuple[Tag, ...] = ()


# --- who may do what ---------------------------------------------------------------------------


def may_read(namespace: Namespace, principal: Principal) -> bool:
    """Public namespaces are everyone's to read; private ones their owner's and admins'."""
    return (
        namespace.visibility is Visibility.PUBLIC
        or namespace.owner == principal.account_id
        or principal.is_admin
    )


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise MetadefAdminOnly()


# --- reading what a tenant sent ----------------------------------------------------------------


def _bad(reason: str) -> InvalidRequest:
    return InvalidRequest(reason=reason)


def check_name(kind: str, value: Any) -> str:
    """A definition's name: 1 to 80 characters, no control characters and no slash (it is a path
    segment)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME:
        raise _bad(f"a {kind} name is a string of 1 to {MAX_NAME} characters")
    if _UNSAFE.search(value):
        raise _bad(f"a {kind} name holds no control characters and no '/'")
    return value


def _text(what: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise _bad(f"{what} is a string of at most {limit} characters")
    return value


def _optional_text(what: str, value: Any, limit: int) -> str | None:
    return None if value is None else _text(what, value, limit)


def _document(what: str, body: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """A JSON object with no read-only keys (403, as Glance) and no unknown ones (400)."""
    if not isinstance(body, dict):
        raise _bad(f"{what} must be a JSON object")
    for key in READ_ONLY:
        if key in body and key not in allowed:
            raise Forbidden("Attribute '{name}' is read-only.", name=key)
    unknown = sorted(k for k in body if k not in allowed)
    if unknown:
        raise _bad(f"{what} has no attribute {unknown[0][:80]!r}")
    return body


def _boolean(what: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(f"{what} is true or false")
    return value


def _count(what: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise _bad(f"{what} is a whole number of at least 0")
    return value


def _number(what: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"{what} is a number")
    return value


def _scalar(what: str, value: Any) -> Any:
    if isinstance(value, str):
        return _text(what, value, MAX_TEXT)
    if value is None or isinstance(value, bool):
        return value
    return _number(what, value)


def _list(what: str, value: Any, item: Callable[[str, Any], Any], *, unique: bool = False) -> list[Any]:
    if not isinstance(value, list) or len(value) > MAX_LIST_ITEMS:
        raise _bad(f"{what} is a list of at most {MAX_LIST_ITEMS} items")
    items = [item(f"an item of {what}", v) for v in value]
    if unique and len({repr(i) for i in items}) != len(items):
        raise _bad(f"the items of {what} are unique")
    return items


def _strings(what: str, value: Any) -> list[str]:
    return _list(what, value, lambda w, v: _text(w, v, MAX_TEXT))


def _unique_names(what: str, value: Any) -> list[str]:
    return _list(what, value, lambda w, v: _text(w, v, MAX_NAME), unique=True)


def _type(what: str, value: Any) -> str | None:
    if value is not None and value not in PROPERTY_TYPES:
        raise _bad(f"{what} is one of {', '.join(PROPERTY_TYPES)} (or null)")
    return value  # type: ignore[no-any-return]


def _items(what: str, value: Any) -> dict[str, Any]:
    body = _document(what, value, frozenset({"type", "enum"}))
    checked: dict[str, Any] = {}
    if "type" in body:
        checked["type"] = _type(f"{what}.type", body["type"])
    if "enum" in body:
        checked["enum"] = _list(f"{what}.enum", body["enum"], _scalar)
    return checked


_PROPERTY_FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "title": lambda w, v: _text(w, v, MAX_TEXT),
    "description": lambda w, v: _text(w, v, MAX_TEXT),
    "operators": _strings,
    "type": _type,
    "required": _unique_names,
    "minimum": _number,
    "maximum": _number,
    "maxLength": _count,
    "minLength": _count,
    "pattern": lambda w, v: _text(w, v, MAX_TEXT),
    "enum": lambda w, v: _list(w, v, _scalar),
    "readonly": _boolean,
    "default": _scalar,
    "items": _items,
    "maxItems": _count,
    "minItems": _count,
    "uniqueItems": _boolean,
    "additionalItems": _boolean,
}
_PROPERTY_KEYS = frozenset({"name", *_PROPERTY_FIELDS})


def parse_property(body: Any, *, name: str | None = None) -> PropertyDefinition:
    """A property definition (Glance's property schema). ``name`` is the key it came under in a
    namespace's or object's ``properties``; otherwise the body names it."""
    what = "a property definition"
    document = _document(what, body, _PROPERTY_KEYS)
    for required in ("title", "type") if name is not None else ("name", "title", "type"):
        if required not in document:
            raise _bad(f"{what} needs {required!r}")
    own_name = document.get("name")
    if own_name is not None:
        check_name("property", own_name)
    schema = {key: _PROPERTY_FIELDS[key](f"{key!r}", v) for key, v in document.items() if key != "name"}
    return PropertyDefinition(check_name("property", name if name is not None else own_name), schema)


def parse_properties(value: Any, limit: int) -> tuple[PropertyDefinition, ...]:
    """A ``properties`` object: name -> definition, at most ``limit`` of them."""
    if not isinstance(value, dict) or len(value) > limit:
        raise _bad(f"properties is an object of at most {limit} definitions")
    return tuple(parse_property(body, name=check_name("property", key)) for key, body in value.items())


_OBJECT_KEYS = frozenset({"name", "description", "required", "properties"})


def parse_object(body: Any) -> MetadefObject:
    document = _document("an object", body, _OBJECT_KEYS)
    if "name" not in document:
        raise _bad("an object needs 'name'")
    properties = parse_properties(document.get("properties") or {}, MAX_OBJECT_PROPERTIES)
    return MetadefObject(
        name=check_name("object", document["name"]),
        description=_optional_text("description", document.get("description"), MAX_TEXT),
        required=tuple(_unique_names("required", document.get("required") or [])),
        properties={p.name: p.schema for p in properties},
    )


def parse_tag(body: Any) -> str:
    document = _document("a tag", body, frozenset({"name"}))
    return check_name("tag", document.get("name"))


def parse_tags(body: Any) -> tuple[str, ...]:
    """``{"tags": [{"name": …}, …]}``: at most the namespace's bound, no name twice."""
    document = _document("the body", body, frozenset({"tags"}))
    tags = document.get("tags")
    if not isinstance(tags, list) or len(tags) > MAX_NAMESPACE_TAGS:
        raise _bad(f"tags is a list of at most {MAX_NAMESPACE_TAGS} tags")
    names = tuple(parse_tag(tag) for tag in tags)
    if len(set(names)) != len(names):
        raise _bad("a tag name appears twice in the list")
    return names


_ASSOCIATION_KEYS = frozenset({"name", "prefix", "properties_target"})


def parse_association(body: Any) -> Association:
    document = _document("a resource type association", body, _ASSOCIATION_KEYS)
    return Association(
        name=check_name("resource type", document.get("name")),
        prefix=_optional_text("prefix", document.get("prefix"), MAX_NAME),
        properties_target=_optional_text("properties_target", document.get("properties_target"), MAX_NAME),
    )


_NAMESPACE_KEYS = frozenset(
    {
        "namespace",
        "display_name",
        "description",
        "visibility",
        "protected",
        "owner",
        "resource_type_associations",
        "properties",
        "objects",
        "tags",
    }
)


def _bounded_list(what: str, value: Any, limit: int) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > limit:
        raise _bad(f"{what} is a list of at most {limit} items")
    return value


def _unique(kind: str, names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise _bad(f"a {kind} name appears twice")


def parse_namespace(body: Any) -> NamespaceSpec:
    """A namespace to create or to replace (PUT), with the definitions a create may carry."""
    document = _document("a namespace", body, _NAMESPACE_KEYS)
    if "namespace" not in document:
        raise _bad("a namespace needs 'namespace'")
    visibility = document.get("visibility") or Visibility.PRIVATE.value
    if visibility not in tuple(Visibility):
        raise _bad("visibility is public or private")
    associations = tuple(
        parse_association(a)
        for a in _bounded_list(
            "resource_type_associations",
            document.get("resource_type_associations"),
            MAX_NAMESPACE_ASSOCIATIONS,
        )
    )
    objects = tuple(
        parse_object(o) for o in _bounded_list("objects", document.get("objects"), MAX_NAMESPACE_OBJECTS)
    )
    tags = tuple(parse_tag(t) for t in _bounded_list("tags", document.get("tags"), MAX_NAMESPACE_TAGS))
    properties = parse_properties(document.get("properties") or {}, MAX_NAMESPACE_PROPERTIES)
    _unique("resource type", [a.name for a in associations])
    _unique("object", [o.name for o in objects])
    _unique("tag", list(tags))
    owner = document.get("owner") or None
    return NamespaceSpec(
        namespace=check_name("namespace", document["namespace"]),
        display_name=_optional_text("display_name", document.get("display_name"), MAX_DISPLAY_NAME),
        description=_optional_text("description", document.get("description"), MAX_NAMESPACE_DESCRIPTION),
        visibility=Visibility(visibility),
        protected=_boolean("protected", document.get("protected", False) or False),
        owner=_optional_text("owner", owner, MAX_OWNER),
        associations=associations,
        properties=properties,
        objects=objects,
        tags=tags,
    )
