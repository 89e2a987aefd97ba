"""JSON patch (``application/openstack-images-v2.1-json-patch``) on an image's flat attribute document."""

from __future__ import annotations

from typing import Any

from scp_images.domain.errors import Conflict, Forbidden, InvalidRequest
from scp_images.http.openstack.attributes import ALWAYS_SHOWN, READ_ONLY_ATTRIBUTES, SETTABLE, read_only

PATCH_MEDIA_TYPE = "application/openstack-images-v2.1-json-patch"
MAX_OPERATIONS = 256


def _key(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/") or path.count("/") != 1 or len(path) > 300:
        raise InvalidRequest(reason=f"path {str(path)[:80]!r} must be one top-level JSON pointer like /name")
    return path[1:].replace("~1", "/").replace("~0", "~")


def apply_patch(document: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list) or len(operations) > MAX_OPERATIONS:
        raise InvalidRequest(reason=f"the body must be a list of at most {MAX_OPERATIONS} operations")
    result = dict(document)
    for op in operations:
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
            raise InvalidRequest(reason="each operation is an object with op add, replace or remove")
        key = _key(op.get("path"))
        if key in READ_ONLY_ATTRIBUTES:
            raise read_only(key)
        if op["op"] == "remove":
            _remove(result, key)
        else:
            _set(result, key, op)
    return result


def _remove(result: dict[str, Any], key: str) -> None:
    if key in ALWAYS_SHOWN:
        raise Forbidden("Attribute '{name}' cannot be removed.", name=key)
    if result.get(key) is None:
        raise Conflict(reason=f"there is no property {key[:80]!r} to remove")
    if key in SETTABLE:  # an attribute that is shown only when set: removing it unsets it
        result[key] = None
    else:
        del result[key]


def _set(result: dict[str, Any], key: str, op: dict[str, Any]) -> None:
    """``add`` on an existing key replaces it; ``replace`` needs the key, except the core attributes
    (glanceclient replaces every schema property, even an unset one)."""
    if "value" not in op:
        raise InvalidRequest(reason=f"operation {op['op']} on {key[:80]!r} needs a value")
    if op["op"] == "replace" and key not in SETTABLE and key not in result:
        raise Conflict(reason=f"there is no property {key[:80]!r} to replace")
    result[key] = op["value"]
