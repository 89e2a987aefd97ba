"""Per-version wire shapes. Field sets are exact: the Go SDK refuses unknown fields in 1.0."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from scp_images.domain.disk_formats import OriginalDisk
from scp_images.domain.image import Image
from scp_images.domain.jobs import ImportJob
from scp_images.domain.member import Member
from scp_images.domain.sources import SourceGrant, redact_url
from scp_images.domain.versions import V1_2, ApiVersion
from scp_images.http.errors import localised_reason

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
    if value.tzinfo is None and value.year >= 1000:
        # The same text as the strftime below for the naive UTC times the store keeps, in half the time.
        return value.isoformat(timespec="seconds") + "Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_fields(version: ApiVersion) -> tuple[str, ...]:
    return IMAGE_FIELDS_1_2 if version >= V1_2 else IMAGE_FIELDS_1_0


def _shown_fields_reader(fields: tuple[str, ...]) -> Callable[[Image], dict[str, Any]]:
    """A function answering ``{"checksum": image.checksum, ...}`` for ``fields``, written out once at
    import: a dict display with constant keys is made in one step, where ``dict(zip(fields, values))``
    grows the dict five times on the way to 31 keys (twice the time; a tenth of a list of 1,000's). The
    names are this module's constants, each an attribute of ``Image``."""
    assert all(name.isidentifier() and hasattr(Image, name) for name in fields)
    items = ", ".join(f"{name!r}: image.{name}" for name in fields)
    namespace: dict[str, Any] = {}
    exec(f"def shown(image):\n    return {{{items}}}", namespace)
    return namespace["shown"]  # type: ignore[no-any-return]


# The few fields that need converting are replaced after.
_READERS = {fields: _shown_fields_reader(fields) for fields in (IMAGE_FIELDS_1_0, IMAGE_FIELDS_1_2)}


def image_body(image: Image, version: ApiVersion) -> dict[str, Any]:
    """The image in plain JSON types (the CLI prints it); a JSON response uses ``image_wire``."""
    body = image_wire(image, version)
    body["created_at"] = rfc3339(image.created_at)
    body["updated_at"] = rfc3339(image.updated_at)
    body["status"] = str(image.status)  # a StrEnum's str() is its value, without Enum.value's lookup
    body["visibility"] = str(image.visibility)
    return body


def image_wire(image: Image, version: ApiVersion) -> dict[str, Any]:
    """The image for ``json_response``: times and enums are left to orjson, which writes the same text
    as ``image_body`` (responses.JSON_OPTIONS) in a tenth of the time; half of a list of 1,000's."""
    return _image_wire(image, _READERS[image_fields(version)])


def image_list_wire(images: list[Image], version: ApiVersion) -> dict[str, Any]:
    shown = _READERS[image_fields(version)]
    return {"images": [_image_wire(image, shown) for image in images]}


def _image_wire(image: Image, shown: Callable[[Image], dict[str, Any]]) -> dict[str, Any]:
    body = shown(image)
    for name in ("created_at", "updated_at"):
        value = body[name]
        if value.tzinfo is not None or value.year < 1000:  # not the store's naive UTC: as rfc3339 writes it
            body[name] = rfc3339(value)
    body["url"] = redact_url(image.url)  # stored redacted; rows written before that are redacted here
    return body


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


def import_body(job: ImportJob, language: str = "en-US") -> dict[str, Any]:
    """The import extension resource (``GET /v1/images/{id}/import``); a failure's reason is stored as
    ``code: English`` and answered in the caller's language, its code first, with the next step."""
    return {
        "image_id": job.image_id,
        "status": job.status.value,
        "url": redact_url(job.url),  # the job row keeps a presigned URL whole for the worker
        "bytes_read": job.bytes_read,
        "bytes_total": job.bytes_total,
        "reason": localised_reason(job.reason, language),
        "started_at": _time_or_none(job.started_at),
        "finished_at": _time_or_none(job.finished_at),
        # Conversion (issue 21): where the job is, the percentage of a conversion, the input format
        # the caller declared (null: detected from the bytes) and, once received, the original disk.
        "phase": job.phase.value if job.phase is not None else None,
        "percent": job.percent,
        "input_format": job.input_format,
        "original": original_body(job.original) if job.original is not None else None,
    }


def original_body(original: OriginalDisk) -> dict[str, Any]:
    return {"disk_format": original.disk_format, "size": original.size, "sha512": original.sha512}


def grant_body(grant: SourceGrant) -> dict[str, Any]:
    """One import source grant: the same fields ``admin source list --json`` prints."""
    return {"account_id": grant.account_id, "bucket": grant.bucket, "prefix": grant.prefix}


def import_sources_body(grants: list[SourceGrant]) -> dict[str, Any]:
    """``GET /v1/import-sources`` (extension): the caller's grants."""
    return {"import_sources": [grant_body(grant) for grant in grants]}
