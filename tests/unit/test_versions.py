"""Version negotiation from Scp-Api-Version, with an injected date."""

from __future__ import annotations

from datetime import date

import pytest

from scp_images.domain.errors import ApiVersionRetired, UnsupportedApiVersion
from scp_images.domain.versions import V1_0, V1_3, ApiVersion, VersionInfo, VersionStatus, VersionTable

TABLE = VersionTable()
JAN_2026 = date(2026, 1, 15)
NOV_2025 = date(2025, 11, 1)


def test_absent_header_serves_current() -> None:
    assert TABLE.negotiate(None, JAN_2026, strict_sunset=False).version == V1_3


@pytest.mark.parametrize("value", ["virtualserver 1.0", " virtualserver 1.0 "])
def test_known_version(value: str) -> None:
    assert TABLE.negotiate(value, NOV_2025, strict_sunset=True).version == V1_0


@pytest.mark.parametrize(
    "value",
    [
        "",
        "virtualserver",
        "virtualserver 2.0",
        "virtualserver 1.9",
        "compute 1.0",
        "virtualserver  1.0",
        "virtualserver 1",
        "virtualserver v1.0",
        "VIRTUALSERVER 1.0",
        "virtualserver 1.0.0",
    ],
)
def test_malformed_or_unknown_is_refused(value: str) -> None:
    with pytest.raises(UnsupportedApiVersion):
        TABLE.negotiate(value, NOV_2025, strict_sunset=False)


def test_past_sunset_served_unless_strict() -> None:
    assert TABLE.negotiate("virtualserver 1.0", JAN_2026, strict_sunset=False).version == V1_0
    with pytest.raises(ApiVersionRetired):
        TABLE.negotiate("virtualserver 1.0", JAN_2026, strict_sunset=True)
    # the not-before day itself is still served
    assert TABLE.negotiate("virtualserver 1.0", date(2025, 12, 31), strict_sunset=True).version == V1_0


def test_planned_version_cannot_be_called() -> None:
    table = VersionTable(
        (VersionInfo(V1_3, VersionStatus.CURRENT, None), VersionInfo(V1_0, VersionStatus.PLANNED, None))
    )
    with pytest.raises(UnsupportedApiVersion):
        table.negotiate("virtualserver 1.0", JAN_2026, strict_sunset=False)


def test_table_refuses_unknown_versions_and_needs_current() -> None:
    with pytest.raises(ValueError):
        VersionTable((VersionInfo(ApiVersion(2, 0), VersionStatus.CURRENT, None),))
    with pytest.raises(ValueError):
        VersionTable((VersionInfo(V1_0, VersionStatus.DEPRECATED, None),))
