"""An image's v2 attributes and the names a v2 caller may write, defined once: the table below is both what
``/v2/schemas/image`` serves (``schemas.py`` renders it) and what a create body or a patched document is
checked against here, into the fields ``ImageService`` takes; everything else a client sends is an extra
string property. ``refusal`` answers, for a name a caller writes, what Glance answers (403 read-only or
reserved, or nothing): the create body's names and every patch operation's path go through it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from scp_images.domain.errors import (
    AttributeReadOnly,
    AttributeReserved,
    Forbidden,
    InvalidRequest,
    OwnerNotYours,
)
from scp_images.domain.image import MAX_NAME_LENGTH, Image, ImageStatus, Visibility
from scp_images.domain.listing import visibility_named
from scp_images.domain.principal import check_project_id
from scp_images.domain.properties import (
    CONTAINER_FORMATS,
    DISK_FORMATS,
    MAX_PROPERTY_NAME,
    MAX_TAG_LENGTH,
    check_container_format,
    check_disk_format,
    check_properties,
    check_tag,
)
from scp_images.http.schemas import IMAGE_FIELDS_1_2

# Glance statuses a client may meet in the document (it validates shown images against it).
_GLANCE_STATUSES = ("saving", "uploading", "pending_delete", "deleted")
# Glance's image id pattern (a create body's ``id`` is checked against it before it is refused).
_UUID = "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"


class Write(Enum):
    """What a v2 caller writing a name meets (Glance's answers, ``glance/api/v2/images.py``)."""

    SET = "set"  # a caller sets it
    READ_ONLY = "read-only"  # 403 "is read-only"; on create only once its value has the document's type
    SERVED = "served"  # the server's own links: 403 "is read-only" before anything else is looked at
    OWNER = "owner"  # an admin sets and replaces it; anyone else sends only their own account on create
    RESERVED = "reserved"  # 403 "is reserved": the service's own names
    LOCATIONS = "locations"  # reserved on create; a patch is told that locations are not shown


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute: its JSON types (``"null"`` first when nullable) and bounds as served, and what a v2
    caller writing it meets (``write``)."""

    name: str
    types: tuple[str, ...]
    write: Write = Write.READ_ONLY
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

    @property
    def settable(self) -> bool:
        return self.write is Write.SET


def _ro(name: str, *types: str, write: Write = Write.READ_ONLY) -> Attribute:
    return Attribute(name, types, write=write, read_only=True)


def _original(name: str, kind: str, description: str) -> Attribute:
    """Read-only, shown only when the image was converted (not declared nullable: never shown null)."""
    return Attribute(name, (kind,), read_only=True, description=description)


# The columns' widths bound the strings: PostgreSQL refuses longer values (and NUL), which must be a 400.
IMAGE_ATTRIBUTES: tuple[Attribute, ...] = (
    # A caller-chosen id is refused even when well-formed (docs/decisions.md: ids are never reused).
    Attribute("id", ("string",), pattern=_UUID, description="An identifier for the image"),
    Attribute("name", ("null", "string"), write=Write.SET, max_length=MAX_NAME_LENGTH),
    Attribute(
        "status", ("string",), read_only=True, enum=(*(s.value for s in ImageStatus), *_GLANCE_STATUSES)
    ),
    Attribute(
        "visibility",
        ("string",),
        write=Write.SET,
        enum=tuple(v.value for v in Visibility),
        check=visibility_named,
    ),
    Attribute("protected", ("boolean",), write=Write.SET),
    Attribute("os_hidden", ("boolean",), write=Write.SET),
    Attribute("owner", ("null", "string"), write=Write.OWNER, max_length=255),
    Attribute(
        "tags",
        ("array",),
        write=Write.SET,
        min_length=1,
        max_length=MAX_TAG_LENGTH,
        check=lambda tags: tuple(check_tag(tag) for tag in tags),
    ),
    Attribute(
        "disk_format",
        ("null", "string"),
        write=Write.SET,
        max_length=16,
        enum=(None, *DISK_FORMATS),
        check=check_disk_format,
    ),
    Attribute(
        "container_format",
        ("null", "string"),
        write=Write.SET,
        max_length=16,
        enum=(None, *CONTAINER_FORMATS),
        check=check_container_format,
    ),
    Attribute("min_ram", ("integer",), write=Write.SET),
    Attribute("min_disk", ("integer",), write=Write.SET),
    _ro("size", "null", "integer"),
    _ro("virtual_size", "null", "integer"),
    Attribute("checksum", ("null", "string"), read_only=True, max_length=32),
    Attribute("os_hash_algo", ("null", "string"), read_only=True, max_length=64),
    Attribute("os_hash_value", ("null", "string"), read_only=True, max_length=128),
    Attribute("os_distro", ("null", "string"), write=Write.SET, removable=True, max_length=64),
    # The disk as the caller sent it, shown once it was converted into qcow2 (docs/decisions.md).
    _original("original_disk_format", "string", "The disk format the image was uploaded or imported in"),
    _original("original_container_format", "string", "bare, or ova when the disk came inside an OVA"),
    _original("original_size", "integer", "The size in bytes of what was uploaded or imported"),
    _original("original_sha512", "string", "The SHA-512 (hex) of what was uploaded or imported"),
    _ro("created_at", "string"),
    _ro("updated_at", "string"),
    _ro("self", "string", write=Write.SERVED),
    _ro("file", "string", write=Write.SERVED),
    _ro("schema", "string", write=Write.SERVED),
    Attribute(
        "stores",
        ("string",),
        write=Write.SERVED,
        read_only=True,
        description="Store in which image data resides: the one store of this service (GET /v2/info/stores)",
    ),
)
BY_NAME = {attribute.name: attribute for attribute in IMAGE_ATTRIBUTES}
SETTABLE = frozenset(a.name for a in IMAGE_ATTRIBUTES if a.settable)
# Settable and always shown (null at worst): a patch may replace them even when unset, never remove them.
ALWAYS_SHOWN = frozenset(a.name for a in IMAGE_ATTRIBUTES if a.settable and not a.removable)
# Glance's image attributes (what ``hasattr(image, name)`` finds there): a draft-4 ``add`` of one of them
# is a conflict, and none may be removed. ``os_distro`` is an extra property in Glance.
CORE_ATTRIBUTES = frozenset(a.name for a in IMAGE_ATTRIBUTES if a.write is not Write.SERVED) - {"os_distro"}
# Glance's names outside the document, and the service's own namespace (``glance/api/common.py``).
_OTHER_NAMES = {
    "direct_url": Write.SERVED,
    "locations": Write.LOCATIONS,
    "location": Write.RESERVED,
    "deleted": Write.RESERVED,
    "deleted_at": Write.RESERVED,
}
RESERVED_NAMESPACE = "os_glance"
# SCP fields that only the SCP API shows or sets: a v2 caller may not use their names as extras.
_SCP_ONLY = (frozenset(IMAGE_FIELDS_1_2) | {"url", "blob_key", "properties"}) - BY_NAME.keys()


def write_of(name: str) -> Write:
    """What writing ``name`` means; an extra property's name is ``SET``."""
    if name in BY_NAME:
        return BY_NAME[name].write
    if name in _OTHER_NAMES:
        return _OTHER_NAMES[name]
    if name.startswith(RESERVED_NAMESPACE):  # Glance's test: a prefix, case as written
        return Write.RESERVED
    return Write.READ_ONLY if name in _SCP_ONLY else Write.SET


def read_only(name: str) -> Forbidden:
    return AttributeReadOnly(name=name[:80])


def reserved(name: str) -> Forbidden:
    return AttributeReserved(name=name[:80])


def refusal(name: str, *, creating: bool) -> Forbidden | None:
    """Glance's 403 for a caller writing ``name`` (a create body's key, or a patch's path), or None.
    The owner and the locations depend on more than the name (``create_fields``, ``patch.py``)."""
    write = write_of(name)
    if write is Write.RESERVED or (creating and write is Write.LOCATIONS):
        return reserved(name)
    if write in (Write.READ_ONLY, Write.SERVED):
        return read_only(name)
    return None


def _refusal(attribute: Attribute) -> InvalidRequest:
    name, types = attribute.name, attribute.types
    if "boolean" in types:
        return InvalidRequest(reason=f"{name} must be true or false")
    if "integer" in types:
        return InvalidRequest(reason=f"{name} must be an integer")
    if "array" in types:
        return InvalidRequest(reason=f"{name} must be a list of strings")
    if attribute.pattern is not None:
        return InvalidRequest(reason=f"{name} must be a UUID like 8-4-4-4-12 hexadecimal digits")
    if attribute.enum:
        allowed = ", ".join(str(v) for v in attribute.enum if v is not None)
        return InvalidRequest(reason=f"{name} must be one of {allowed}")
    nullable = "null or " if "null" in types else ""
    bound = f" of at most {attribute.max_length} characters" if attribute.max_length else ""
    return InvalidRequest(reason=f"{name} must be {nullable}a string{bound}")


def _well_typed(attribute: Attribute, value: Any) -> bool:
    if value is None:
        return "null" in attribute.types
    if "boolean" in attribute.types:
        return isinstance(value, bool)
    if "integer" in attribute.types:
        return isinstance(value, int) and not isinstance(value, bool)
    if "array" in attribute.types:
        return isinstance(value, list)
    if not isinstance(value, str) or "\x00" in value:
        return False
    if attribute.pattern is not None:
        return re.fullmatch(attribute.pattern, value) is not None
    if attribute.enum and attribute.max_length is None:
        return value in attribute.enum
    return attribute.max_length is None or len(value) <= attribute.max_length


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


def check_value(name: str, value: Any) -> None:
    """A patch operation's value, checked as Glance checks ``{name: value}`` against the document: the
    attribute's type and bounds, or an extra property's string (400)."""
    if name in BY_NAME:
        _typed(BY_NAME[name], value)
    else:
        check_properties({name: value})


def _refuse_extra_name(name: str) -> None:
    if name in BY_NAME:
        return
    if len(name) > MAX_PROPERTY_NAME:
        raise InvalidRequest(reason=f"a property name has at most {MAX_PROPERTY_NAME} characters")
    if write_of(name) in (Write.RESERVED, Write.LOCATIONS):
        raise reserved(name)


def create_fields(
    body: dict[str, Any], account_id: str, *, admin: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A create body's (domain fields, extra properties), refused in Glance's order: the server's own
    links (403), then every value's type (400), then extras' names (400 for a long one, 403 for a
    reserved one), then an owner other than the caller's account (403, unless ``admin``), then read-only
    attributes (403), then the domain's checks (400). An admin's ``owner`` (a project id, else 400) is
    in the fields; null or the caller's own account is left out (the caller's image)."""
    for name in body:
        if write_of(name) is Write.SERVED:
            raise read_only(name)
    for name, value in body.items():
        if name in BY_NAME or write_of(name) in (Write.SET, Write.RESERVED):
            check_value(name, value)
    for name in body:
        _refuse_extra_name(name)
    owner = body.get("owner")
    if "owner" in body and owner != account_id and not admin:
        raise OwnerNotYours(owner=str(owner)[:80])
    errors = (refusal(name, creating=True) for name in body if name != "owner")
    error = next((error for error in errors if error is not None), None)
    if error is not None:
        raise error
    fields, extras = split_attributes({name: value for name, value in body.items() if name != "owner"})
    if owner is not None and owner != account_id:
        fields["owner"] = check_project_id(owner)
    return fields, extras


def split_attributes(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(domain fields, extra properties) of a document whose names were allowed already (a create body
    through ``create_fields``, a patched document whose paths went through ``refusal``): stored
    properties are kept as they are, whatever their names.

    Types are checked in the document's order, the domain's checks after all of them (so a body with
    several faults gets the answer it got when the service ran those checks)."""
    fields: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for name, value in document.items():
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
