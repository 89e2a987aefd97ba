"""Tags and free-form properties of an image (Glance's), with the bounds that keep them small.

Bounds as Glance's defaults: 128 tags (``image_tag_quota``), 128 extra properties
(``image_property_quota``); a property's name and value fit Glance's 255-character columns. A tag may be
longer than Glance's 255 characters: an SCP resource tag is kept as ``key=value`` (key up to 128, value up
to 256 characters).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from scp_images.domain.errors import InvalidRequest

# Glance's bound on an image's tags; it holds for every image, through either API (a single SCP request
# is bounded tighter, by the SCP edge's SCP_MAX_TAGS).
GLANCE_MAX_TAGS = 128
MAX_TAG_LENGTH = 128 + 1 + 256
MAX_PROPERTIES = 128
MAX_PROPERTY_NAME = 255
MAX_PROPERTY_VALUE = 255
# Names an OpenStack client uses (``owner_specified.openstack.md5``, ``hw_disk_bus``, ``os:type``).
_PROPERTY_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$", re.ASCII)

# Glance's names of the disk formats a caller may declare on the OpenStack edge: qcow2 and raw are stored
# as they are, the others name the input of a conversion into qcow2 (``domain/disk_formats.py``). The SCP
# edge's create takes qcow2 alone (its request model).
DISK_FORMATS = ("qcow2", "raw", "vmdk", "vhdx", "vhd", "vdi")
# ``ova``: the bytes are an OVA (a tar) holding one VMDK, so it goes with ``disk_format: vmdk`` only.
CONTAINER_FORMATS = ("bare", "ova")


def check_tag(tag: object) -> str:
    """A tag is a non-empty string without NUL."""
    if not isinstance(tag, str) or not 1 <= len(tag) <= MAX_TAG_LENGTH:
        raise InvalidRequest(reason=f"a tag is a string of 1 to {MAX_TAG_LENGTH} characters")
    if "\x00" in tag:
        raise InvalidRequest(reason="a tag may not contain NUL")
    return tag


def check_tags(tags: Iterable[object]) -> tuple[str, ...]:
    """Distinct tags in their given order."""
    kept: list[str] = []
    for tag in map(check_tag, tags):
        if tag not in kept:
            kept.append(tag)
    if len(kept) > GLANCE_MAX_TAGS:
        raise InvalidRequest(reason=f"an image has at most {GLANCE_MAX_TAGS} tags")
    return tuple(kept)


def scp_tag(key: str, value: str | None) -> str:
    """An SCP resource tag as the image's string tag: ``key`` alone, or ``key=value``."""
    return key if value is None else f"{key}={value}"


def check_properties(properties: Mapping[str, object]) -> dict[str, str]:
    if len(properties) > MAX_PROPERTIES:
        raise InvalidRequest(reason=f"an image has at most {MAX_PROPERTIES} extra properties")
    checked: dict[str, str] = {}
    for name, value in properties.items():
        if not 1 <= len(name) <= MAX_PROPERTY_NAME or not _PROPERTY_NAME.match(name):
            shown = name[:60]
            raise InvalidRequest(
                reason=f"property name {shown!r} must be 1 to {MAX_PROPERTY_NAME} of A-Z a-z 0-9 _ . : -"
            )
        if not isinstance(value, str) or len(value) > MAX_PROPERTY_VALUE or "\x00" in value:
            raise InvalidRequest(
                reason=f"property {name!r} must be a string of at most {MAX_PROPERTY_VALUE} characters"
            )
        checked[name] = value
    return checked


def check_disk_format(value: str) -> str:
    if value not in DISK_FORMATS:
        raise InvalidRequest(
            reason=f"disk_format {value[:40]!r} is not supported; use one of {', '.join(DISK_FORMATS)}"
        )
    return value


def check_container_format(value: str) -> str:
    if value not in CONTAINER_FORMATS:
        raise InvalidRequest(reason=f"container_format {value[:40]!r} is not supported; use bare or ova")
    return value


def check_format_pair(disk_format: str | None, container_format: str | None) -> None:
    """An OVA holds a VMDK: ``container_format: ova`` goes with ``disk_format: vmdk`` (or none yet)."""
    if container_format == "ova" and disk_format not in (None, "vmdk"):
        raise InvalidRequest(
            reason=f"container_format ova holds a VMDK: use disk_format vmdk, not {str(disk_format)[:20]!r}"
        )
