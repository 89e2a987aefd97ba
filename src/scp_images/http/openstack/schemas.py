"""``/v2/schemas/*``: what glanceclient validates against and builds its commands from. The image document
is rendered from the attribute table the edge validates with (``attributes.py``), so the two cannot
disagree; ``additionalProperties`` are the extras, strings within the domain's bound."""

from __future__ import annotations

from typing import Any

from scp_images.domain.member import MemberStatus
from scp_images.domain.properties import MAX_PROPERTY_VALUE
from scp_images.domain.tasks import TaskStatus, TaskType
from scp_images.http.openstack.attributes import IMAGE_ATTRIBUTES, Attribute


def _string_bounds(attribute: Attribute) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    if attribute.min_length is not None:
        bounds["minLength"] = attribute.min_length
    if attribute.max_length is not None:
        bounds["maxLength"] = attribute.max_length
    return bounds


def attribute_schema(attribute: Attribute) -> dict[str, Any]:
    types = attribute.types
    schema: dict[str, Any] = {"type": types[0] if len(types) == 1 else list(types)}
    if attribute.pattern is not None:
        schema["pattern"] = attribute.pattern
    if attribute.description is not None:
        schema["description"] = attribute.description
    if "array" in types:  # of strings: the bounds are each item's
        schema["items"] = {"type": "string", **_string_bounds(attribute)}
    elif attribute.enum:  # the tighter bound: the length is the column's, checked before the enum
        schema["enum"] = list(attribute.enum)
    else:
        schema.update(_string_bounds(attribute))
    if attribute.read_only:
        schema["readOnly"] = True
    return schema


def image_schema() -> dict[str, Any]:
    return {
        "name": "image",
        "additionalProperties": {"type": "string", "maxLength": MAX_PROPERTY_VALUE},
        "properties": {a.name: attribute_schema(a) for a in IMAGE_ATTRIBUTES},
    }


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
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


_UUID = "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
# A task's fields as Glance's schema names them (descriptions ours); ``additionalProperties`` is false,
# and glanceclient validates each task it reads against it.
_TASK_FIELDS: dict[str, dict[str, Any]] = {
    "id": {"type": "string", "pattern": _UUID, "description": "The task's id"},
    "type": {"type": "string", "enum": [t.value for t in TaskType], "description": "What the task does"},
    "status": {"type": "string", "enum": [s.value for s in TaskStatus], "description": "Where it is"},
    "input": {"type": ["null", "object"], "description": "What the task was asked to do"},
    "result": {"type": ["null", "object"], "description": "What it made (the image's id)"},
    "owner": {"type": "string", "description": "The project (account) that asked for it"},
    "message": {"type": "string", "description": "Why it failed; empty otherwise"},
    "image_id": {"type": "string", "description": "The image it imports into"},
    "request_id": {"type": "string", "description": "The request that asked for it"},
    "user_id": {"type": "string", "description": "The user that asked for it"},
    "expires_at": {"type": ["null", "string"], "description": "When a finished task is no longer shown"},
    "created_at": {"type": "string", "description": "When it was asked for"},
    "updated_at": {"type": "string", "description": "When it last changed status"},
    "self": {"type": "string", "readOnly": True},
    "schema": {"type": "string", "readOnly": True},
}
_LIST_HIDES = ("input", "result", "message")


def task_schema(*, partial: bool = False) -> dict[str, Any]:
    fields = {k: v for k, v in _TASK_FIELDS.items() if not (partial and k in _LIST_HIDES)}
    return {"name": "task", "properties": fields, "additionalProperties": False}


SCHEMAS = {
    "image": image_schema,
    "images": lambda: _collection("images", image_schema()),
    "member": member_schema,
    "members": lambda: _collection("members", member_schema()),
    "task": task_schema,
    "tasks": lambda: _collection("tasks", task_schema(partial=True)),
}
