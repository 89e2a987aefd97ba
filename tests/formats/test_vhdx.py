"""The VHDX inspector on real files made by qemu-img, and on hostile edits of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from scp_images.formats.disk import DiskInfo
from scp_images.formats.vhdx import crc32c
from tests.formats.streaming import qemu_virtual_size, same_verdict_however_chunked
from tests.support import corpus_hyperv as corpus
from tests.support.tools import require_qemu

require_qemu(module_level=True)

Maker = Callable[[Path], Path]


def test_crc32c_matches_the_standard_check_value_and_the_bitwise_one() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the published CRC-32C check value
    sample = bytes(range(256)) * 3
    assert crc32c(sample) == corpus.crc32c_bitwise(sample)


@pytest.mark.parametrize("make", corpus.VALID["vhdx"], ids=lambda make: make.__name__)
def test_a_valid_vhdx_passes_with_qemus_virtual_size(make: Maker, tmp_path: Path) -> None:
    path = make(tmp_path)

    kind, info = same_verdict_however_chunked("vhdx", path.read_bytes())

    assert kind == "ok" and isinstance(info, DiskInfo), info
    assert info.disk_format == "vhdx"
    assert info.virtual_size == qemu_virtual_size(path, "vhdx")


HOSTILE = [
    (corpus.vhdx_differencing, "vhdx_parent", "is a parent locator", "at offset 3145920"),
    (corpus.vhdx_has_parent, "vhdx_parent", "set HasParent", "at offset 3145728"),
    (corpus.vhdx_log_to_replay, "vhdx_structure", "has a log to replay", "at offset 131072"),
    (corpus.vhdx_overlapping_regions, "vhdx_structure", "overlaps the BAT region", "at offset 3145728"),
    (
        corpus.vhdx_block_in_header_area,
        "vhdx_structure",
        "in the header area",
        "the BAT entry at offset 2097152",
    ),
    (corpus.vhdx_block_outside, "truncated", "the block at offset 1099511627776", "ends after"),
    (corpus.vhdx_bad_region_crc, "vhdx_structure", "wrong signature or CRC-32C", "at offset 196608"),
]


@pytest.mark.parametrize(
    ("make", "reason", "fragment", "where"), HOSTILE, ids=lambda p: getattr(p, "__name__", "")
)
def test_a_hostile_vhdx_is_refused_with_its_rule_and_offset(
    make: Maker, reason: str, fragment: str, where: str, tmp_path: Path
) -> None:
    kind, refusal = same_verdict_however_chunked("vhdx", make(tmp_path).read_bytes())

    assert kind == "rejected"
    assert refusal[0] == reason, refusal  # type: ignore[index]
    assert fragment in refusal[1] and where in refusal[1], refusal  # type: ignore[index]


def test_qemu_refuses_the_differencing_edit_too(tmp_path: Path) -> None:
    """The edit makes what qemu takes for a differencing disk, not merely a broken file."""
    from tests.support.tools import ToolFailed, run_tool

    path = corpus.vhdx_has_parent(tmp_path)
    with pytest.raises(ToolFailed, match="Could not open"):
        run_tool("qemu-img", "info", "-f", "vhdx", str(path))
    run_tool("qemu-img", "info", "-f", "vhdx", str(corpus.vhdx_dynamic(tmp_path)))


@pytest.mark.parametrize("make", corpus.VALID["vhdx"], ids=lambda make: make.__name__)
def test_a_vhdx_cut_short_is_truncated(make: Maker, tmp_path: Path) -> None:
    data = make(tmp_path).read_bytes()
    for cut in (4, 100 << 10, 200 << 10, 1 << 20, (2 << 20) + 5, (3 << 20) + 100, len(data) - 1):
        kind, refusal = same_verdict_however_chunked("vhdx", data[:cut])
        assert kind == "rejected" and refusal[0] == "truncated", (cut, refusal)  # type: ignore[index]


def test_a_vhdx_beyond_the_ceiling_is_refused(tmp_path: Path) -> None:
    data = corpus.vhdx_dynamic(tmp_path).read_bytes()

    kind, refusal = same_verdict_however_chunked("vhdx", data, max_virtual_size=(16 << 20) - 1)

    assert kind == "rejected" and refusal[0] == "virtual_size_too_large", refusal  # type: ignore[index]
