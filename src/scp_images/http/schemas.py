"""Per-version wire shapes. Field sets are exact: the Go SDK refuses unknown fields in 1.0."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scp_images.domain.image import Image
from scp_images.domain.member import Member
from scp_images.domain.sources import SourceGrant, redact_url
from scp_images.domain.versions import V1_2, ApiVersion

IMAGE_FIELDS_1_0 = (
    "checksum",
    "container_format",
    "created_at",
    "disk_format",
    "file",
    "id",
    "min_disk",
    "min_ram",
    "name",
    "os_distro",
    "os_hash_algo",
    "os_hash_value",
    "os_hidden",
    "owner",
    "owner_account_name",
    "owner_user_name",
    "protected",
    "root_device_name",
    "scp_image_type",
    "scp_k8s_version",
    "scp_original_image_type",
    "scp_os_build_version",
    "scp_os_version",
    "size",
    "status",
    "updated_at",
    "url",
    "virtual_size",
    "visibility",
    "volumes",
)
IMAGE_FIELDS_1_2 = tuple(sorted((*IMAGE_FIELDS_1_0, "scp_gpu_driver")))


def rfc3339(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_fields(version: ApiVersion) -> tuple[str, ...]:
    return IMAGE_FIELDS_1_2 if version >= V1_2 else IMAGE_FIELDS_1_0


def image_body(image: Image, version: ApiVersion) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in image_fields(version):
        value = getattr(image, name)
        if isinstance(value, datetime):
            value = rfc3339(value)
        elif name in ("status", "visibility"):
            value = value.value
        elif name == "url":
            value = redact_url(value)  # stored redacted; rows written before that are redacted here
        body[name] = value
    return body


def image_list_body(images: list[Image], version: ApiVersion) -> dict[str, Any]:
    return {"images": [image_body(image, version) for image in images]}


def member_body(member: Member) -> dict[str, Any]:
    return {
        "created_at": rfc3339(member.created_at),
        "image_id": member.image_id,
        "member_id": member.member_id,
        "status": member.status.value,
        "updated_at": rfc3339(member.updated_at),
    }


def _time_or_none(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


def import_body(job: Any) -> dict[str, Any]:
    """The import extension resource (``GET /v1/images/{id}/import``)."""
    return {
        "image_id": job.image_id,
        "status": job.status.value,
        "url": redact_url(job.url),  # the job row keeps a presigned URL whole for the worker
        "bytes_read": job.bytes_read,
        "bytes_total": job.bytes_total,
        "reason": job.reason,
        "started_at": _time_or_none(job.started_at),
        "finished_at": _time_or_none(job.finished_at),
    }


def grant_body(grant: SourceGrant) -> dict[str, Any]:
    """One import source grant: the same fields ``admin source list --json`` prints."""
    return {"account_id": grant.account_id, "bucket": grant.bucket, "prefix": grant.prefix}


def import_sources_body(grants: list[SourceGrant]) -> dict[str, Any]:
    """``GET /v1/import-sources`` (extension): the caller's grants."""
    return {"import_sources": [grant_body(grant) for grant in grants]}
