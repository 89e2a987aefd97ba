"""``/v2/schemas/*``: what glanceclient validates against and builds its commands from. Only what we
store is declared; ``additionalProperties`` lets extras be strings (their only type)."""

from __future__ import annotations

from typing import Any

from scp_images.domain.image import ImageStatus, Visibility
from scp_images.domain.member import MemberStatus
from scp_images.domain.properties import CONTAINER_FORMATS, DISK_FORMATS, MAX_TAG_LENGTH

_GLANCE_STATUSES = ("saving", "uploading", "pending_delete", "deleted")
_READ_ONLY = ("status", "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size")


def _ro(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "readOnly": True}


def _nullable_string() -> dict[str, Any]:
    return {"type": ["null", "string"]}


def image_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {
        "id": {
            "type": "string",
            "pattern": "^[0-9a-fA-F-]{36}$",
            "description": "An identifier for the image",
        },
        "name": {**_nullable_string(), "maxLength": 255},
        "status": {"type": "string", "enum": [*(s.value for s in ImageStatus), *_GLANCE_STATUSES]},
        "visibility": {"type": "string", "enum": [v.value for v in Visibility]},
        "protected": {"type": "boolean"},
        "os_hidden": {"type": "boolean"},
        "owner": _nullable_string(),
        "tags": {"type": "array", "items": {"type": "string", "maxLength": MAX_TAG_LENGTH}},
        "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS]},
        "container_format": {"type": ["null", "string"], "enum": [None, *CONTAINER_FORMATS]},
        "min_ram": {"type": "integer"},
        "min_disk": {"type": "integer"},
        "size": {"type": ["null", "integer"]},
        "virtual_size": {"type": ["null", "integer"]},
        "checksum": _nullable_string(),
        "os_hash_algo": _nullable_string(),
        "os_hash_value": _nullable_string(),
        "os_distro": {"type": "string"},
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
        "self": {"type": "string"},
        "file": {"type": "string"},
        "schema": {"type": "string"},
    }
    for name in (*_READ_ONLY, "created_at", "updated_at", "self", "file", "schema"):
        properties[name] = _ro(properties[name])
    return {"name": "image", "additionalProperties": {"type": "string"}, "properties": properties}


def member_schema() -> dict[str, Any]:
    strings = ("member_id", "image_id", "created_at", "updated_at", "schema")
    properties: dict[str, Any] = {name: {"type": "string"} for name in strings}
    properties["status"] = {"type": "string", "enum": [s.value for s in MemberStatus]}
    return {"name": "member", "properties": properties}


def _collection(name: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            name: {"type": "array", "items": item},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"}],
    }


SCHEMAS = {
    "image": image_schema,
    "images": lambda: _collection("images", image_schema()),
    "member": member_schema,
    "members": lambda: _collection("members", member_schema()),
}

# What v2 callers may not set (Glance answers 403), besides the SCP fields shown only by the SCP API.
READ_ONLY_ATTRIBUTES = frozenset(
    {
        *_READ_ONLY,
        "id",
        "owner",
        "created_at",
        "updated_at",
        "self",
        "file",
        "schema",
        "direct_url",
        "locations",
    }
)
