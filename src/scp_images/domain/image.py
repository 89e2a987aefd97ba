"""The image aggregate: its status machine, visibility and the fields SCP shows."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from scp_images.domain.disk_formats import OriginalDisk
from scp_images.domain.errors import InvalidImageStatus, InvalidRequest, MalformedImageId
from scp_images.domain.properties import (
    check_container_format,
    check_disk_format,
    check_format_pair,
    check_properties,
    check_tags,
)


class ImageStatus(StrEnum):
    QUEUED = "queued"
    IMPORTING = "importing"
    ACTIVE = "active"
    KILLED = "killed"
    # Glance's: the owner withholds an active image's bytes (no download) until it reactivates it.
    DEACTIVATED = "deactivated"
    # Glance's glance-direct: the bytes are staged (stored and checked), waiting for the import call.
    UPLOADING = "uploading"


# The one table of allowed moves (Glance-style); every status write checks it and is a compare-and-set
# (``store.sql.images.move``). IMPORTING -> IMPORTING: a job whose writer died is claimed again;
# IMPORTING -> QUEUED: an interrupted upload can be sent again with the same PUT (Glance's behaviour);
# KILLED -> QUEUED: a new import into a failed image. ACTIVE <-> DEACTIVATED: the owner's
# deactivate/reactivate (OpenStack Image API v2). IMPORTING -> UPLOADING -> ACTIVE: glance-direct's stage
# (the same ingest, stopping short of active) and its import call.
_TRANSITIONS: dict[ImageStatus, frozenset[ImageStatus]] = {
    ImageStatus.QUEUED: frozenset({ImageStatus.IMPORTING, ImageStatus.KILLED}),
    ImageStatus.IMPORTING: frozenset(
        {
            ImageStatus.IMPORTING,
            ImageStatus.ACTIVE,
            ImageStatus.KILLED,
            ImageStatus.QUEUED,
            ImageStatus.UPLOADING,
        }
    ),
    # UPLOADING -> IMPORTING: glance-direct's import call on a staged disk to convert (issue 21).
    ImageStatus.UPLOADING: frozenset({ImageStatus.ACTIVE, ImageStatus.IMPORTING}),
    ImageStatus.KILLED: frozenset({ImageStatus.QUEUED}),
    ImageStatus.ACTIVE: frozenset({ImageStatus.DEACTIVATED}),
    ImageStatus.DEACTIVATED: frozenset({ImageStatus.ACTIVE}),
}

IMPORTABLE_STATUSES = frozenset({ImageStatus.QUEUED, ImageStatus.KILLED})


def can_transition(current: ImageStatus, target: ImageStatus) -> bool:
    return target in _TRANSITIONS[current]


def check_transition(image_id: str, current: ImageStatus, target: ImageStatus) -> None:
    if not can_transition(current, target):
        expected = ", ".join(sorted(s.value for s in ImageStatus if can_transition(s, target))) or "none"
        raise InvalidImageStatus(image_id=image_id, status=current.value, expected=expected)


class DataFlag(StrEnum):
    """What the integrity scrub found wrong with an active image's stored bytes."""

    CORRUPT = "corrupt"  # present, but the size, md5 or sha512 differs from the row
    MISSING = "missing"  # nothing under the image's key (the store itself answered)


class Visibility(StrEnum):
    PRIVATE = "private"
    SHARED = "shared"
    PUBLIC = "public"
    COMMUNITY = "community"


# What an account may give its own images; public and community images are published by the operator
# (``admin image import``) or, on the OpenStack edge, by an admin key (Glance's publicize_image).
USER_SETTABLE_VISIBILITIES = frozenset({Visibility.PRIVATE, Visibility.SHARED})


def require_user_settable(visibility: Visibility, *, admin: bool = False) -> Visibility:
    if not admin and visibility not in USER_SETTABLE_VISIBILITIES:
        shown = visibility.value
        raise InvalidRequest(reason=f"an account may not set visibility {shown}; use private or shared")
    return visibility


class OsDistro(StrEnum):
    """The os_distro values SCP's Create Image accepts (the operator's import may name others)."""

    ALMA = "alma"
    CENTOS = "centos"
    RHEL = "rhel"
    ROCKY = "rocky"
    UBUNTU = "ubuntu"
    WINDOWS = "windows"
    ORACLE = "oracle"
    SLES = "sles"


OS_DISTROS = tuple(d.value for d in OsDistro)
MAX_NAME_LENGTH = 255

MAX_MIN_RAM = 2_097_151
MAX_MIN_DISK = 12_288


def new_image_id() -> str:
    return str(uuid.uuid4())


# A UUID in its canonical form, in either case: what uuid.UUID parses and prints back as the value
# lower-cased (no braces, urn: prefix or missing hyphens). ASCII only: no other character lower-cases
# to a hex digit or a hyphen.
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def parse_image_id(value: str) -> str:
    """The canonical form of an image id; a value that is not a UUID in its canonical form (either
    case) is a bad request."""
    if _CANONICAL_UUID.fullmatch(value) is None:
        raise MalformedImageId(value=value[:80])
    return value.lower()


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
    # Set by the integrity scrub while the stored bytes fail the row's size or checksums: "corrupt" or
    # "missing". Not a status (SCP has no such state, Show keeps "active"); downloads are refused.
    data_flag: DataFlag | None = None
    # Glance's string tags and free-form string properties (bounds in domain.properties).
    tags: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)
    # A converted image's original disk (issue 21): None when the bytes were stored as received.
    original_disk_format: str | None = None
    original_size: int | None = None
    original_sha512: str | None = None

    @property
    def original(self) -> OriginalDisk | None:
        if self.original_disk_format is None or self.original_size is None:
            return None
        return OriginalDisk(self.original_disk_format, self.original_size, self.original_sha512)

    @property
    def file(self) -> str:
        return f"/v2/images/{self.id}/file"


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """What a caller states about a new image (an edge's create call, or an operator's import);
    ``new_image`` turns it into one, the only place that does and the one place its bounds are checked.
    An edge leaves ``owner`` empty: the create use case makes the image the caller's."""

    name: str
    owner: str = ""
    os_distro: str | None = None
    status: ImageStatus = ImageStatus.QUEUED
    visibility: Visibility = Visibility.PRIVATE
    container_format: str = "bare"
    disk_format: str = "qcow2"
    protected: bool = False
    hidden: bool = False
    min_disk: int = 0
    min_ram: int = 0
    owner_account_name: str | None = None
    owner_user_name: str | None = None
    image_type: str | None = "custom"
    os_version: str | None = None
    url: str | None = None
    tags: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)
    # The OpenStack API allows an image without a name (shown as "" by the SCP API).
    name_optional: bool = False


def new_image(spec: ImageSpec, now: datetime) -> Image:
    container_format = check_container_format(spec.container_format)
    disk_format = check_disk_format(spec.disk_format)
    check_format_pair(disk_format, container_format)
    tags = check_tags(spec.tags)
    properties = check_properties(spec.properties)
    if (not spec.name and not spec.name_optional) or len(spec.name) > MAX_NAME_LENGTH:
        raise InvalidRequest(reason=f"an image name has 1 to {MAX_NAME_LENGTH} characters")
    if not 0 <= spec.min_disk <= MAX_MIN_DISK or not 0 <= spec.min_ram <= MAX_MIN_RAM:
        raise InvalidRequest(reason=f"min_disk is 0 to {MAX_MIN_DISK} and min_ram 0 to {MAX_MIN_RAM}")
    return Image(
        id=new_image_id(),
        name=spec.name,
        owner=spec.owner,
        status=spec.status,
        visibility=spec.visibility,
        created_at=now,
        updated_at=now,
        protected=spec.protected,
        os_hidden=spec.hidden,
        container_format=container_format,
        disk_format=disk_format,
        min_disk=spec.min_disk,
        min_ram=spec.min_ram,
        os_distro=spec.os_distro,
        owner_account_name=spec.owner_account_name,
        owner_user_name=spec.owner_user_name,
        root_device_name="/dev/vda",
        scp_image_type=spec.image_type,
        scp_original_image_type=spec.image_type,
        scp_os_version=spec.os_version,
        url=spec.url,
        tags=tags,
        properties=properties,
    )
