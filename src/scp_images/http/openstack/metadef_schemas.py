"""``/v2/schemas/metadefs/*``: the metadata definitions' JSON schemas in the form Glance serves them
(Tempest and Horizon read their names and properties). Each item schema is closed
(``additionalProperties: false``); a collection wraps its item with paging links.

The bounds written here are Glance's; what the service enforces (``domain/metadefs.py``) is the same
or tighter, never looser."""

from __future__ import annotations

from typing import Any

from scp_images.domain.metadefs import (
    MAX_DISPLAY_NAME,
    MAX_NAME,
    MAX_NAMESPACE_DESCRIPTION,
    MAX_OWNER,
    PROPERTY_TYPES,
)

_TYPES: list[Any] = [*PROPERTY_TYPES, None]


def _string(max_length: int | None = None, description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if description is not None:
        schema["description"] = description
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def _time(description: str) -> dict[str, Any]:
    return {"type": "string", "readOnly": True, "description": description, "format": "date-time"}


def _read_only() -> dict[str, Any]:
    return {"readOnly": True, "type": "string"}


def _counts(string_array_min_items: bool) -> dict[str, Any]:
    string_array: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    if string_array_min_items:
        string_array["minItems"] = 1
    string_array["uniqueItems"] = True
    return {
        "positiveInteger": {"type": "integer", "minimum": 0},
        "positiveIntegerDefault0": {"allOf": [{"$ref": "#/definitions/positiveInteger"}, {"default": 0}]},
        "stringArray": string_array,
    }


def property_fields() -> dict[str, Any]:
    """A property definition's attributes (the property schema, and each value under ``properties``)."""
    return {
        "name": {"type": "string", "maxLength": MAX_NAME},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "type": {"type": "string", "enum": _TYPES},
        "required": {"$ref": "#/definitions/stringArray"},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "maxLength": {"$ref": "#/definitions/positiveInteger"},
        "minLength": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "pattern": {"type": "string", "format": "regex"},
        "enum": {"type": "array"},
        "readonly": {"type": "boolean"},
        "default": {},
        "items": {
            "type": "object",
            "properties": {"type": {"type": "string", "enum": _TYPES}, "enum": {"type": "array"}},
        },
        "maxItems": {"$ref": "#/definitions/positiveInteger"},
        "minItems": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "uniqueItems": {"type": "boolean", "default": False},
        "additionalItems": {"type": "boolean"},
    }


def _namespace_definitions() -> dict[str, Any]:
    definitions = _counts(string_array_min_items=False)
    definitions["property"] = {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "required": ["title", "type"],
            "properties": property_fields(),
        },
    }
    return definitions


def _item(
    name: str, properties: dict[str, Any], required: list[str], definitions: dict[str, Any] | None = None
) -> dict[str, Any]:
    schema: dict[str, Any] = {"name": name, "properties": properties, "additionalProperties": False}
    if definitions:
        schema["definitions"] = definitions
    if required:
        schema["required"] = required
    return schema


def _collection(name: str, item: dict[str, Any], container: str = "array") -> dict[str, Any]:
    item = dict(item)
    definitions = item.pop("definitions", None)
    listed: dict[str, Any] = {"type": container}
    listed["items" if container == "array" else "additionalProperties"] = item
    schema: dict[str, Any] = {
        "name": name,
        "properties": {
            name: listed,
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }
    if definitions:
        schema["definitions"] = definitions
    return schema


def _named_list(**fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "object", "properties": fields}}


def namespace_schema() -> dict[str, Any]:
    properties = {
        "namespace": _string(MAX_NAME, "The unique namespace text."),
        "display_name": _string(
            MAX_DISPLAY_NAME, "The user friendly name for the namespace. Used by UI if available."
        ),
        "description": _string(
            MAX_NAMESPACE_DESCRIPTION, "Provides a user friendly description of the namespace."
        ),
        "visibility": {
            "type": "string",
            "description": "Scope of namespace accessibility.",
            "enum": ["public", "private"],
        },
        "protected": {"type": "boolean", "description": "If true, namespace will not be deletable."},
        "owner": _string(MAX_OWNER, "Owner of the namespace."),
        "created_at": _time("Date and time of namespace creation"),
        "updated_at": _time("Date and time of the last namespace modification"),
        "schema": _read_only(),
        "self": _read_only(),
        "resource_type_associations": _named_list(
            name={"type": "string"}, prefix={"type": "string"}, properties_target={"type": "string"}
        ),
        "properties": {"$ref": "#/definitions/property"},
        "objects": _named_list(
            name={"type": "string"},
            description={"type": "string"},
            required={"$ref": "#/definitions/stringArray"},
            properties={"$ref": "#/definitions/property"},
        ),
        "tags": _named_list(name={"type": "string"}),
    }
    return _item("namespace", properties, ["namespace"], _namespace_definitions())


def object_schema() -> dict[str, Any]:
    properties = {
        "name": {"type": "string", "maxLength": MAX_NAME},
        "description": {"type": "string"},
        "required": {"$ref": "#/definitions/stringArray"},
        "properties": {"$ref": "#/definitions/property"},
        "schema": _read_only(),
        "self": _read_only(),
        "created_at": _time("Date and time of object creation"),
        "updated_at": _time("Date and time of the last object modification"),
    }
    return _item("object", properties, ["name"], _namespace_definitions())


def property_schema(*, require_name: bool = True) -> dict[str, Any]:
    required = ["type", "title", *(["name"] if require_name else [])]
    return _item("property", property_fields(), required, _counts(string_array_min_items=True))


def tag_schema() -> dict[str, Any]:
    properties = {
        "name": {"type": "string", "maxLength": MAX_NAME},
        "created_at": _time("Date and time of tag creation"),
        "updated_at": _time("Date and time of the last tag modification"),
    }
    return _item("tag", properties, ["name"])


_ASSOCIATION_TEXT = {
    "name": (
        "Resource type names should be aligned with Heat resource types whenever possible: "
        "https://docs.openstack.org/heat/latest/template_guide/openstack.html"
    ),
    "prefix": (
        "Specifies the prefix to use for the given resource type. Any properties in the namespace "
        "should be prefixed with this prefix when being applied to the specified resource type. Must "
        "include prefix separator (e.g. a colon :)."
    ),
    "properties_target": (
        "Some resource types allow more than one key / value pair per instance.  For example, Cinder "
        "allows user and image metadata on volumes. Only the image properties metadata is evaluated by "
        "Nova (scheduling or drivers). This property allows a namespace target to remove the ambiguity."
    ),
}


def resource_type_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {field: _string(MAX_NAME, text) for field, text in _ASSOCIATION_TEXT.items()}
    properties["created_at"] = _time("Date and time of resource type association")
    properties["updated_at"] = _time("Date and time of the last resource type association modification")
    return _item("resource_type_association", properties, ["name"])


METADEF_SCHEMAS = {
    "metadefs/namespace": namespace_schema,
    "metadefs/namespaces": lambda: _collection("namespaces", namespace_schema()),
    "metadefs/object": object_schema,
    "metadefs/objects": lambda: _collection("objects", object_schema()),
    "metadefs/property": property_schema,
    "metadefs/properties": lambda: _collection(
        "properties", property_schema(require_name=False), container="object"
    ),
    "metadefs/tag": tag_schema,
    "metadefs/tags": lambda: _collection("tags", tag_schema()),
    "metadefs/resource_type": resource_type_schema,
    "metadefs/resource_types": lambda: _collection("resource_type_associations", resource_type_schema()),
}
