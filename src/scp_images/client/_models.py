"""Typed results. Unknown fields from newer servers are kept in ``extra`` rather than refused."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    status: str
    visibility: str
    protected: bool
    os_hidden: bool
    owner: str
    container_format: str
    disk_format: str
    file: str
    min_disk: int
    min_ram: int
    created_at: datetime
    updated_at: datetime
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
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Image:
        names = {f.name for f in fields(cls)} - {"raw"}
        values = {k: v for k, v in data.items() if k in names}
        values["created_at"] = _parse_time(values.get("created_at"))
        values["updated_at"] = _parse_time(values.get("updated_at"))
        return cls(**values, raw=dict(data))


@dataclass(frozen=True)
class Member:
    image_id: str
    member_id: str
    status: str
    created_at: datetime
    updated_at: datetime
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Member:
        return cls(
            image_id=data["image_id"],
            member_id=data["member_id"],
            status=data["status"],
            created_at=_parse_time(data["created_at"]),  # type: ignore[arg-type]
            updated_at=_parse_time(data["updated_at"]),  # type: ignore[arg-type]
            raw=dict(data),
        )


@dataclass(frozen=True)
class OriginalDisk:
    """The disk as it was sent, when the server converts it into qcow2: its format (``vmdk``, ``ova``,
    ``vhdx``, ``vhd``, ``vdi`` or ``raw``), size in bytes and SHA-512 (hex). ``sha512`` is None while the
    conversion has not computed it yet (it hashes the original beside ``qemu-img``)."""

    disk_format: str
    size: int
    sha512: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> OriginalDisk | None:
        if not isinstance(data, dict):
            return None
        return cls(disk_format=data["disk_format"], size=data["size"], sha512=data.get("sha512"))


@dataclass(frozen=True)
class ImportStatus:
    """An import or upload as the server reports it. ``phase`` is where it is (``receiving``,
    ``inspecting``, ``converting``, ``hashing``, ``storing``; None from a server without conversion),
    ``percent`` the conversion's progress, ``input_format`` the format declared (None: detected), and
    ``original`` the received disk once it was converted."""

    image_id: str
    status: str
    url: str | None
    bytes_read: int
    bytes_total: int | None
    reason: str | None
    started_at: datetime | None
    finished_at: datetime | None
    phase: str | None = None
    percent: int | None = None
    input_format: str | None = None
    original: OriginalDisk | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportStatus:
        return cls(
            image_id=data["image_id"],
            status=data["status"],
            url=data.get("url"),
            bytes_read=data.get("bytes_read") or 0,
            bytes_total=data.get("bytes_total"),
            reason=data.get("reason"),
            started_at=_parse_time(data.get("started_at")),
            finished_at=_parse_time(data.get("finished_at")),
            phase=data.get("phase"),
            percent=data.get("percent"),
            input_format=data.get("input_format"),
            original=OriginalDisk.from_dict(data.get("original")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class ImportSource:
    """A grant an operator gave this account: objects of ``bucket`` whose key lies under ``prefix`` may
    be imported (``s3://bucket/key`` or the account's own SCP Object Storage URL). ``prefix`` matches whole
    ``/``-separated segments (``a/b`` covers ``a/b/x``, not ``a/bc/x``); ``""`` is the whole bucket."""

    account_id: str
    bucket: str
    prefix: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportSource:
        prefix = data.get("prefix") or ""
        return cls(account_id=data["account_id"], bucket=data["bucket"], prefix=prefix, raw=dict(data))
