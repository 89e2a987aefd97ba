"""Tempest 47.0.0's image suite (`^tempest.api.image`) against a live server on PostgreSQL: no failures,
no skip outside tempest_allowed_skips.txt. The other database's run is its own module, so that
`--dist loadfile` gives the two to different workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.checks import check_tempest
from tests.interop.tempest_run import Target


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_tempest_image_suite_on_postgres(tmp_path: Path, tempest_target: Target) -> None:
    check_tempest(tmp_path, tempest_target, "postgres")
