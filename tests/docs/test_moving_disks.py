"""The guide to moving disks names every refusal reason with the next step the service itself gives, and
every setting it names exists (so a renamed reason, step or setting cannot leave the guide behind)."""

from __future__ import annotations

import re

from scp_images.config import Settings
from scp_images.domain.errors import DISK_NEXT_STEPS
from tests.support.tools import REPOSITORY

GUIDE = REPOSITORY / "docs" / "user" / "moving-disks.md"


def test_every_refusal_reason_is_a_row_with_its_next_step() -> None:
    rows = {}
    for line in GUIDE.read_text().splitlines():
        found = re.fullmatch(r"\| `([a-z0-9_]+)` \| [^|]+ \| (.+) \|", line)
        if found:
            rows[found[1]] = found[2].replace("&#124;", "|")
    assert rows == DISK_NEXT_STEPS


def test_the_settings_it_names_exist() -> None:
    named = set(re.findall(r"SCP_IMAGES_([A-Z0-9_]+)", GUIDE.read_text()))
    known = {name.upper() for name in Settings.model_fields}
    assert named and named <= known, named - known
