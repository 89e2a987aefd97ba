"""An image's v2 attributes as a client sends them (create body, the document a JSON patch edits), checked
into the fields ``ImageService`` takes; everything else a client sends is an extra string property."""

from __future__ import annotations

from typing import Any

from scp_images.domain.errors import Forbidden, InvalidRequest
from scp_images.domain.image import MAX_NAME_LENGTH, Image, Visibility
from scp_images.http.openstack.schemas import READ_ONLY_ATTRIBUTES
from scp_images.http.schemas import IMAGE_FIELDS_1_2

# Attributes of the domain's image that a v2 caller sets, with their JSON types.
_BOOLS = ("protected", "os_hidden")
_INTS = ("min_ram", "min_disk")
_NULLABLE_STRINGS = ("name", "disk_format", "container_format", "os_distro")
# The columns' widths: PostgreSQL refuses longer values (and NUL), which must be a 400, not a 500.
_MAX_LENGTH = {"name": MAX_NAME_LENGTH, "disk_format": 16, "container_format": 16, "os_distro": 64}
SETTABLE = frozenset({*_BOOLS, *_INTS, *_NULLABLE_STRINGS, "visibility", "tags"})
# SCP fields that only the SCP API shows or sets: a v2 caller may not use their names as extras.
_RESERVED = (frozenset(IMAGE_FIELDS_1_2) | {"url", "blob_key", "properties"}) - SETTABLE


def read_only(name: str) -> Forbidden:
    return Forbidden("Attribute '{name}' is read-only.", name=name[:80])


def _short_string(value: Any, limit: int) -> bool:
    return isinstance(value, str) and "\x00" not in value and len(value) <= limit


def _typed(name: str, value: Any) -> Any:
    if name in _BOOLS and not isinstance(value, bool):
        raise InvalidRequest(reason=f"{name} must be true or false")
    if name in _INTS and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidRequest(reason=f"{name} must be an integer")
    if name in _NULLABLE_STRINGS and value is not None and not _short_string(value, _MAX_LENGTH[name]):
        raise InvalidRequest(
            reason=f"{name} must be null or a string of at most {_MAX_LENGTH[name]} characters"
        )
    if name == "visibility":
        try:
            return Visibility(value)
        except ValueError:
            raise InvalidRequest(
                reason="visibility must be one of public, community, shared, private"
            ) from None
    if name == "tags" and not isinstance(value, list):
        raise InvalidRequest(reason="tags must be a list of strings")
    return tuple(value) if name == "tags" else value


def split_attributes(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(domain fields, extra properties); read-only and SCP-only names are refused with 403."""
    fields: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for name, value in document.items():
        if name in READ_ONLY_ATTRIBUTES or name in _RESERVED:
            raise read_only(name)
        if name in SETTABLE:
            fields[name] = _typed(name, value)
        else:
            extras[name] = value
    return fields, extras


def document(image: Image) -> dict[str, Any]:
    """What a JSON patch edits: the settable attributes and the extras, as v2 shows them."""
    doc: dict[str, Any] = {
        "name": image.name or None,
        "visibility": image.visibility.value,
        "protected": image.protected,
        "os_hidden": image.os_hidden,
        "tags": list(image.tags),
        "min_ram": image.min_ram,
        "min_disk": image.min_disk,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "os_distro": image.os_distro,
    }
    doc.update(image.properties)
    return doc
