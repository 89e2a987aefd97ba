"""The image aggregate: its status machine, visibility and the fields SCP shows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from scp_images.domain.errors import InvalidImageStatus, InvalidRequest


class ImageStatus(StrEnum):
    QUEUED = "queued"
    IMPORTING = "importing"
    ACTIVE = "active"
    KILLED = "killed"


# Glance-style table of allowed moves. IMPORTING -> IMPORTING lets a restarted job resume.
_TRANSITIONS: dict[ImageStatus, frozenset[ImageStatus]] = {
    ImageStatus.QUEUED: frozenset({ImageStatus.IMPORTING, ImageStatus.KILLED}),
    ImageStatus.IMPORTING: frozenset({ImageStatus.IMPORTING, ImageStatus.ACTIVE, ImageStatus.KILLED}),
    ImageStatus.KILLED: frozenset({ImageStatus.QUEUED, ImageStatus.IMPORTING}),
    ImageStatus.ACTIVE: frozenset(),
}

IMPORTABLE_STATUSES = frozenset({ImageStatus.QUEUED, ImageStatus.KILLED})


def can_transition(current: ImageStatus, target: ImageStatus) -> bool:
    return target in _TRANSITIONS[current]


def check_transition(image_id: str, current: ImageStatus, target: ImageStatus) -> None:
    if not can_transition(current, target):
        expected = ", ".join(sorted(s.value for s in ImageStatus if can_transition(s, target))) or "none"
        raise InvalidImageStatus(image_id=image_id, status=current.value, expected=expected)


class Visibility(StrEnum):
    PRIVATE = "private"
    SHARED = "shared"
    PUBLIC = "public"
    COMMUNITY = "community"


USER_SETTABLE_VISIBILITIES = frozenset({Visibility.PRIVATE, Visibility.SHARED})

OS_DISTROS = ("alma", "centos", "rhel", "rocky", "ubuntu", "windows", "oracle", "sles")

MAX_MIN_RAM = 2_097_151
MAX_MIN_DISK = 12_288


def new_image_id() -> str:
    return str(uuid.uuid4())


def parse_image_id(value: str) -> str:
    """The canonical form of an image id; a value that is not a UUID is a bad request."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise InvalidRequest(reason=f"image_id {value[:80]!r} is not a UUID") from None
    if str(parsed) != value.lower():
        raise InvalidRequest(reason=f"image_id {value[:80]!r} is not a UUID in canonical form")
    return str(parsed)


@dataclass(slots=True)
class Image:
    id: str
    name: str
    owner: str
    status: ImageStatus
    visibility: Visibility
    created_at: datetime
    updated_at: datetime
    protected: bool = False
    os_hidden: bool = False
    container_format: str = "bare"
    disk_format: str = "qcow2"
    min_disk: int = 0
    min_ram: int = 0
    checksum: str | None = None
    os_distro: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    owner_account_name: str | None = None
    owner_user_name: str | None = None
    root_device_name: str | None = None
    scp_image_type: str | None = None
    scp_original_image_type: str | None = None
    scp_k8s_version: str | None = None
    scp_os_version: str | None = None
    scp_os_build_version: str | None = None
    scp_gpu_driver: str | None = None
    size: int | None = None
    virtual_size: int | None = None
    url: str | None = None
    volumes: str | None = None
    blob_key: str | None = None

    @property
    def file(self) -> str:
        return f"/v2/images/{self.id}/file"

    def with_changes(self, **changes: Any) -> Image:
        return replace(self, **changes)
