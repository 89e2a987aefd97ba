"""Glance's wire shapes for images and members."""

from __future__ import annotations

from typing import Any

from scp_images.domain.disk_formats import DiskFormat, OriginalDisk
from scp_images.domain.image import Image, ImageStatus
from scp_images.domain.member import Member
from scp_images.http.schemas import rfc3339

# The SCP statuses have Glance's names already; ``importing`` covers Glance's saving and importing.
_STATUS = {status: status.value for status in ImageStatus}
# The statuses whose data sits in the store (Glance shows ``stores`` on an image with locations).
_STORED = frozenset({ImageStatus.ACTIVE, ImageStatus.DEACTIVATED})


def image_v2(image: Image, store_id: str) -> dict[str, Any]:
    """The image as Glance shows it; ``stores`` names ``store_id`` once its data is stored."""
    body: dict[str, Any] = dict(image.properties)
    if image.os_distro is not None:
        body["os_distro"] = image.os_distro
    if image.status in _STORED:
        body["stores"] = store_id
    original = image.original
    if original is not None:
        body.update(original_v2(original))
    body.update(
        id=image.id,
        name=image.name or None,  # stored "" for a nameless image (the SCP API's clients need a string)
        status=_STATUS[image.status],
        visibility=image.visibility.value,
        protected=image.protected,
        os_hidden=image.os_hidden,
        checksum=image.checksum,
        os_hash_algo=image.os_hash_algo,
        os_hash_value=image.os_hash_value,
        owner=image.owner,
        size=image.size,
        virtual_size=image.virtual_size,
        container_format=image.container_format,
        disk_format=image.disk_format,
        min_ram=image.min_ram,
        min_disk=image.min_disk,
        tags=list(image.tags),
        created_at=rfc3339(image.created_at),
        updated_at=rfc3339(image.updated_at),
        self=f"/v2/images/{image.id}",
        file=f"/v2/images/{image.id}/file",
        schema="/v2/schemas/image",
    )
    return body


def original_v2(original: OriginalDisk) -> dict[str, Any]:
    """The converted disk as Glance would name it: an OVA is a VMDK in an ``ova`` container. Each
    attribute is shown only when set (never null), as every extra attribute of a v2 image."""
    ova = original.disk_format == DiskFormat.OVA
    shown: dict[str, Any] = {
        "original_disk_format": DiskFormat.VMDK.value if ova else original.disk_format,
        "original_container_format": "ova" if ova else "bare",
        "original_size": original.size,
    }
    if original.sha512 is not None:
        shown["original_sha512"] = original.sha512
    return shown


def member_v2(member: Member) -> dict[str, Any]:
    return {
        "member_id": member.member_id,
        "image_id": member.image_id,
        "status": member.status.value,
        "created_at": rfc3339(member.created_at),
        "updated_at": rfc3339(member.updated_at),
        "schema": "/v2/schemas/member",
    }
