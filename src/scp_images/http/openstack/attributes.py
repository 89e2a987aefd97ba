"""An image's v2 attributes, defined once: the table below is both what ``/v2/schemas/image`` serves
(``schemas.py`` renders it) and what a create body or a patched document is checked against here, into the
fields ``ImageService`` takes; everything else a client sends is an extra string property."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scp_images.domain.errors import Forbidden, InvalidRequest
from scp_images.domain.image import MAX_NAME_LENGTH, Image, ImageStatus, Visibility
from scp_images.domain.listing import visibility_named
from scp_images.domain.properties import (
    CONTAINER_FORMATS,
    DISK_FORMATS,
    MAX_TAG_LENGTH,
    check_container_format,
    check_disk_format,
    check_tag,
)
from scp_images.http.schemas import IMAGE_FIELDS_1_2

# Glance statuses a client may meet in the document (it validates shown images against it).
_GLANCE_STATUSES = ("saving", "uploading", "pending_delete", "deleted")


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute: its JSON types (``"null"`` first when nullable) and bounds as served, and whether a
    v2 caller may set it (otherwise sending it is a 403, Glance's answer for a read-only attribute)."""

    name: str
    types: tuple[str, ...]
    settable: bool = False
    read_only: bool = False  # declared readOnly in the document
    removable: bool = False  # shown only when set, so a patch may remove it
    max_length: int | None = None  # a string's, or each item's of an array
    min_length: int | None = None
    enum: tuple[Any, ...] = ()
    pattern: str | None = None
    description: str | None = None
    # The domain's check of a well-typed, non-null value, into the domain's type: both APIs refuse with one
    # text, and the enum above lists what it allows.
    check: Callable[[Any], Any] | None = None


def _ro(name: str, *types: str) -> Attribute:
    return Attribute(name, types, read_only=True)


# The columns' widths bound the strings: PostgreSQL refuses longer values (and NUL), which must be a 400.
IMAGE_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("id", ("string",), pattern="^[0-9a-fA-F-]{36}$", description="An identifier for the image"),
    Attribute("name", ("null", "string"), settable=True, max_length=MAX_NAME_LENGTH),
    Attribute(
        "status", ("string",), read_only=True, enum=(*(s.value for s in ImageStatus), *_GLANCE_STATUSES)
    ),
    Attribute(
        "visibility",
        ("string",),
        settable=True,
        enum=tuple(v.value for v in Visibility),
        check=visibility_named,
    ),
    Attribute("protected", ("boolean",), settable=True),
    Attribute("os_hidden", ("boolean",), settable=True),
    Attribute("owner", ("null", "string")),
    Attribute(
        "tags",
        ("array",),
        settable=True,
        min_length=1,
        max_length=MAX_TAG_LENGTH,
        check=lambda tags: tuple(check_tag(tag) for tag in tags),
    ),
    Attribute(
        "disk_format",
        ("null", "string"),
        settable=True,
        max_length=16,
        enum=(None, *DISK_FORMATS),
        check=check_disk_format,
    ),
    Attribute(
        "container_format",
        ("null", "string"),
        settable=True,
        max_length=16,
        enum=(None, *CONTAINER_FORMATS),
        check=check_container_format,
    ),
    Attribute("min_ram", ("integer",), settable=True),
    Attribute("min_disk", ("integer",), settable=True),
    _ro("size", "null", "integer"),
    _ro("virtual_size", "null", "integer"),
    _ro("checksum", "null", "string"),
    _ro("os_hash_algo", "null", "string"),
    _ro("os_hash_value", "null", "string"),
    Attribute("os_distro", ("null", "string"), settable=True, removable=True, max_length=64),
    _ro("created_at", "string"),
    _ro("updated_at", "string"),
    _ro("self", "string"),
    _ro("file", "string"),
    _ro("schema", "string"),
)
BY_NAME = {attribute.name: attribute for attribute in IMAGE_ATTRIBUTES}
SETTABLE = frozenset(a.name for a in IMAGE_ATTRIBUTES if a.settable)
# Settable and always shown (null at worst): a patch may replace them even when unset, never remove them.
ALWAYS_SHOWN = frozenset(a.name for a in IMAGE_ATTRIBUTES if a.settable and not a.removable)
# What v2 callers may not set (Glance answers 403): the document's other attributes, and Glance's location
# attributes, which we do not have.
READ_ONLY_ATTRIBUTES = frozenset(
    {*(a.name for a in IMAGE_ATTRIBUTES if not a.settable), "direct_url", "locations"}
)
# SCP fields that only the SCP API shows or sets: a v2 caller may not use their names as extras.
_RESERVED = (frozenset(IMAGE_FIELDS_1_2) | {"url", "blob_key", "properties"}) - SETTABLE


def read_only(name: str) -> Forbidden:
    return Forbidden("Attribute '{name}' is read-only.", name=name[:80])


def _refusal(attribute: Attribute) -> InvalidRequest:
    name, types = attribute.name, attribute.types
    if "boolean" in types:
        return InvalidRequest(reason=f"{name} must be true or false")
    if "integer" in types:
        return InvalidRequest(reason=f"{name} must be an integer")
    if "array" in types:
        return InvalidRequest(reason=f"{name} must be a list of strings")
    nullable = "null or " if "null" in types else ""
    return InvalidRequest(
        reason=f"{name} must be {nullable}a string of at most {attribute.max_length} characters"
    )


def _well_typed(attribute: Attribute, value: Any) -> bool:
    if value is None:
        return "null" in attribute.types
    if "boolean" in attribute.types:
        return isinstance(value, bool)
    if "integer" in attribute.types:
        return isinstance(value, int) and not isinstance(value, bool)
    if "array" in attribute.types:
        return isinstance(value, list)
    return isinstance(value, str) and "\x00" not in value and len(value) <= (attribute.max_length or 0)


def _typed(attribute: Attribute, value: Any) -> Any:
    """The value if it has the declared JSON type and length, else 400."""
    if attribute.max_length is None and attribute.check is not None:
        return attribute.check(value)  # a string known by its enum alone: the domain's check is its type
    if not _well_typed(attribute, value):
        raise _refusal(attribute)
    return value


def _checked(attribute: Attribute, value: Any) -> Any:
    """A well-typed value as the domain takes it, refused (400) by the domain's own check."""
    if value is None or attribute.check is None or attribute.max_length is None:
        return value
    return attribute.check(value)


def checked(attribute: Attribute, value: Any) -> Any:
    """A value the attribute's document allows, in the domain's type; else 400."""
    return _checked(attribute, _typed(attribute, value))


def split_attributes(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(domain fields, extra properties); read-only and SCP-only names are refused with 403.

    Types are checked in the body's order together with the names, the domain's checks after all of
    them (so a body with several faults gets the answer it got when the service ran those checks)."""
    fields: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for name, value in document.items():
        if name in READ_ONLY_ATTRIBUTES or name in _RESERVED:
            raise read_only(name)
        if name in SETTABLE:
            fields[name] = _typed(BY_NAME[name], value)
        else:
            extras[name] = value
    return {name: _checked(BY_NAME[name], value) for name, value in fields.items()}, extras


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
