"""JSON patches on an image's flat attribute document, in Glance's two media types:

- ``application/openstack-images-v2.1-json-patch``: RFC 6902 operations, ``{"op": "replace", "path":
  "/name", "value": ...}``; ``add`` on a present name replaces it.
- ``application/openstack-images-v2.0-json-patch``: the draft-4 form Tempest's client sends,
  ``{"replace": "/name", "value": ...}``; ``add`` only creates (a present name is a 409).

``parse_patch`` reads and checks every operation from the body alone (400 for a malformed one, 403 for a
name the caller may not write, 400 for a value of the wrong type), as Glance's deserializer does before
its controller runs; ``apply_patch`` then applies them to the image's document (403 and 409 answers that
depend on the image)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from scp_images.domain.errors import (
    AttributeNotRemovable,
    InvalidRequest,
    LocationsNotShown,
    OwnerNotChangeable,
    PropertyMissing,
    PropertyPresent,
)
from scp_images.domain.principal import check_project_id
from scp_images.http.openstack.attributes import (
    CORE_ATTRIBUTES,
    SETTABLE,
    Write,
    check_value,
    refusal,
    write_of,
)

MAX_OPERATIONS = 256
OPERATIONS = ("add", "remove", "replace")


class PatchForm(Enum):
    """The operation objects' form, named by the request's media type."""

    DRAFT_4 = "application/openstack-images-v2.0-json-patch"
    RFC_6902 = "application/openstack-images-v2.1-json-patch"


# Sorted as Glance names them in a 415's Accept-Patch.
PATCH_MEDIA_TYPES = tuple(sorted(form.value for form in PatchForm))
# Path depth per operation for Glance's locations (``/locations/0`` to add or remove one); every other
# path is one name deep.
_LOCATIONS_DEPTH = {"add": 2, "remove": 2, "replace": 1}
_LOCATIONS_VERB = {"add": "add", "remove": "remove", "replace": "update"}


@dataclass(frozen=True, slots=True)
class Change:
    op: str  # add, remove or replace
    path: tuple[str, ...]  # the decoded JSON pointer, one name deep except Glance's locations
    value: Any = None

    @property
    def name(self) -> str:
        return self.path[0]


def _bad(reason: str) -> InvalidRequest:
    return InvalidRequest(reason=reason)


def _shown(text: object) -> str:
    return repr(str(text)[:80])


def _operation(raw: dict[str, Any], form: PatchForm) -> tuple[str, Any]:
    """(op, raw path) of one operation object in the body's form."""
    if form is PatchForm.RFC_6902:
        op = raw.get("op")
        if op not in OPERATIONS:
            raise _bad(f"op {_shown(op)} must be one of add, remove, replace")
        if "path" not in raw:
            raise _bad(f"operation {op} has no path")
        return op, raw["path"]
    named = [op for op in OPERATIONS if op in raw]
    if len(named) != 1:
        raise _bad('a draft-4 operation has exactly one member named "add", "remove" or "replace"')
    return named[0], raw[named[0]]


def decode_pointer(pointer: Any) -> tuple[str, ...]:
    """A JSON pointer's names, checked as Glance checks them (each name stripped of surrounding
    blanks, ``~1`` is ``/`` and ``~0`` is ``~``)."""
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise _bad(f"path {_shown(pointer)} must be a JSON pointer starting with /, like /name")
    if re.search(r"/\s*?/", pointer[1:]) or (len(pointer) > 1 and pointer.endswith("/")):
        raise _bad(f"path {_shown(pointer)} has an empty name between slashes or at its end")
    if re.search("~[^01]", pointer) or pointer.endswith("~"):
        raise _bad(f"path {_shown(pointer)} has a ~ that is not ~0 or ~1")
    return tuple(
        part.replace("~1", "/").replace("~0", "~").strip() for part in pointer.lstrip("/").split("/")
    )


def _change(raw: Any, form: PatchForm) -> Change:
    if not isinstance(raw, dict):
        raise _bad("each operation must be a JSON object")
    op, pointer = _operation(raw, form)
    path = decode_pointer(pointer)
    depth = _LOCATIONS_DEPTH[op] if path[0] == "locations" else 1
    if len(path) != depth:
        raise _bad(f"path {_shown(pointer)} does not name an attribute of an image, like /name")
    if op != "remove" and "value" not in raw:
        raise _bad(f'operation {op} on {_shown(path[0])} needs a member named "value"')
    change = Change(op, path, raw.get("value"))
    error = refusal(change.name, creating=False)
    if error is not None:
        raise error
    if op != "remove" and write_of(change.name) is not Write.LOCATIONS:
        check_value(change.name, change.value)
    return change


def parse_patch(operations: Any, form: PatchForm) -> list[Change]:
    """Every operation of the body, checked before any is applied."""
    if not isinstance(operations, list) or len(operations) > MAX_OPERATIONS:
        raise _bad(f"the body must be a JSON list of at most {MAX_OPERATIONS} operations")
    return [_change(raw, form) for raw in operations]


def apply_patch(
    document: dict[str, Any], changes: list[Change], form: PatchForm, *, admin: bool = False
) -> dict[str, Any]:
    """The document with ``changes`` applied in order; the image's attributes are checked afterwards
    (``attributes.split_attributes``). Only an ``admin`` may add or replace ``owner`` (a project id)."""
    result = dict(document)
    for change in changes:
        _apply(result, change, form, admin)
    return result


def _present(result: dict[str, Any], name: str) -> bool:
    return result.get(name) is not None


def _apply(result: dict[str, Any], change: Change, form: PatchForm, admin: bool) -> None:
    name, op = change.name, change.op
    write = write_of(name)
    if write is Write.LOCATIONS:
        raise LocationsNotShown(verb=_LOCATIONS_VERB[op])
    if op == "remove" and name in CORE_ATTRIBUTES:
        raise AttributeNotRemovable(name=name)
    if write is Write.OWNER:
        if not admin:
            raise OwnerNotChangeable()
        result[name] = check_project_id(change.value)  # add or replace: the owner is always present
        return
    if op == "remove":
        if not _present(result, name):
            raise PropertyMissing(name=name[:80])
        if name in SETTABLE:  # an attribute shown only when set: removing it unsets it
            result[name] = None
        else:
            del result[name]
        return
    if op == "replace" and name not in SETTABLE and not _present(result, name):
        # The settable attributes may be replaced even when unset: glanceclient replaces every one of
        # the schema's properties it changes.
        raise PropertyMissing(name=name[:80])
    if op == "add" and form is PatchForm.DRAFT_4 and (name in CORE_ATTRIBUTES or _present(result, name)):
        raise PropertyPresent(name=name[:80])
    result[name] = change.value
