"""API micro-versions: the table an operator can change, and negotiation from Scp-Api-Version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from scp_images.domain.errors import ApiVersionRetired, UnsupportedApiVersion

SERVICE_TOKEN = "virtualserver"

_HEADER_RE = re.compile(r"^(?P<service>[a-z][a-z0-9-]*) (?P<major>\d{1,3})\.(?P<minor>\d{1,3})$")


class VersionStatus(StrEnum):
    CURRENT = "CURRENT"
    SUPPORTED = "SUPPORTED"
    DEPRECATED = "DEPRECATED"
    PLANNED = "PLANNED"


@dataclass(frozen=True, slots=True, order=True)
class ApiVersion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @classmethod
    def parse(cls, text: str) -> ApiVersion:
        major, _, minor = text.partition(".")
        if not (major.isdigit() and minor.isdigit()):
            raise ValueError(f"not a version: {text!r}")
        return cls(int(major), int(minor))


V1_0 = ApiVersion(1, 0)
V1_1 = ApiVersion(1, 1)
V1_2 = ApiVersion(1, 2)
V1_3 = ApiVersion(1, 3)


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: ApiVersion
    status: VersionStatus
    not_before: date | None

    def past_sunset(self, today: date) -> bool:
        return (
            self.not_before is not None
            and self.status is VersionStatus.DEPRECATED
            and today > self.not_before
        )


DEFAULT_VERSION_TABLE: tuple[VersionInfo, ...] = (
    VersionInfo(V1_0, VersionStatus.DEPRECATED, date(2025, 12, 31)),
    VersionInfo(V1_1, VersionStatus.DEPRECATED, date(2026, 5, 31)),
    VersionInfo(V1_2, VersionStatus.DEPRECATED, date(2026, 8, 31)),
    VersionInfo(V1_3, VersionStatus.CURRENT, None),
)

# Versions whose wire schemas this code knows; the table may only name these.
KNOWN_VERSIONS = frozenset({V1_0, V1_1, V1_2, V1_3})


@dataclass(frozen=True, slots=True)
class VersionTable:
    entries: tuple[VersionInfo, ...] = DEFAULT_VERSION_TABLE

    def __post_init__(self) -> None:
        unknown = [str(e.version) for e in self.entries if e.version not in KNOWN_VERSIONS]
        if unknown:
            raise ValueError(f"version table names versions this server has no schema for: {unknown}")
        if not any(e.status is VersionStatus.CURRENT for e in self.entries):
            raise ValueError("version table needs a CURRENT version")

    @property
    def current(self) -> VersionInfo:
        return max((e for e in self.entries if e.status is VersionStatus.CURRENT), key=lambda e: e.version)

    def find(self, version: ApiVersion) -> VersionInfo | None:
        return next((e for e in self.entries if e.version == version), None)

    def supported_text(self) -> str:
        return ", ".join(
            f"{SERVICE_TOKEN} {e.version}" for e in self.entries if e.status is not VersionStatus.PLANNED
        )

    def negotiate(self, header: str | None, today: date, *, strict_sunset: bool) -> VersionInfo:
        """The version to serve for a ``Scp-Api-Version`` header value (absent: the CURRENT one)."""
        if header is None:
            return self.current
        match = _HEADER_RE.match(header.strip())
        info = None
        if match and match["service"] == SERVICE_TOKEN:
            info = self.find(ApiVersion(int(match["major"]), int(match["minor"])))
        if info is None or info.status is VersionStatus.PLANNED:
            raise UnsupportedApiVersion(version=header[:64], supported=self.supported_text())
        if strict_sunset and info.past_sunset(today):
            raise ApiVersionRetired(
                version=header[:64],
                sunset=str(info.not_before),
                supported=self.supported_text(),
            )
        return info
