"""The VDI inspector on real files made by qemu-img, and on hostile edits of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from scp_images.formats.disk import DiskInfo
from tests.formats.streaming import qemu_virtual_size, same_verdict_however_chunked
from tests.support import corpus_hyperv as corpus
from tests.support.tools import require_qemu

require_qemu(module_level=True)

Maker = Callable[[Path], Path]


@pytest.mark.parametrize("make", corpus.VALID["vdi"], ids=lambda make: make.__name__)
def test_a_valid_vdi_passes_with_qemus_virtual_size(make: Maker, tmp_path: Path) -> None:
    path = make(tmp_path)

    kind, info = same_verdict_however_chunked("vdi", path.read_bytes())

    assert kind == "ok" and isinstance(info, DiskInfo), info
    assert info.disk_format == "vdi"
    assert info.virtual_size == qemu_virtual_size(path, "vdi")


HOSTILE = [
    (corpus.vdi_differencing, "vdi_image_type", "image type 4 (differencing)"),
    (corpus.vdi_undo, "vdi_image_type", "image type 3 (undo)"),
    (corpus.vdi_with_parent_uuid, "vdi_image_type", "names a parent image (UUID at offset 440)"),
    (corpus.vdi_block_map_over_data, "vdi_structure", "the block map at offset 512"),
    (corpus.vdi_block_outside, "truncated", "block 15 at offset"),
    (corpus.vdi_block_number_too_large, "vdi_structure", "names block 16, beyond the 16 blocks"),
]


@pytest.mark.parametrize(("make", "reason", "fragment"), HOSTILE, ids=lambda p: getattr(p, "__name__", ""))
def test_a_hostile_vdi_is_refused_with_its_rule_and_offset(
    make: Maker, reason: str, fragment: str, tmp_path: Path
) -> None:
    kind, refusal = same_verdict_however_chunked("vdi", make(tmp_path).read_bytes())

    assert kind == "rejected"
    assert refusal[0] == reason and fragment in refusal[1], refusal  # type: ignore[index]


@pytest.mark.parametrize("make", corpus.VALID["vdi"], ids=lambda make: make.__name__)
def test_a_vdi_cut_short_is_truncated(make: Maker, tmp_path: Path) -> None:
    data = make(tmp_path).read_bytes()
    for cut in (1, 64, 300, 511, 512, 600, len(data) - 1):
        kind, refusal = same_verdict_however_chunked("vdi", data[:cut])
        assert kind == "rejected" and refusal[0] == "truncated", (cut, refusal)  # type: ignore[index]


def test_a_vdi_beyond_the_ceiling_is_refused(tmp_path: Path) -> None:
    data = corpus.vdi_normal(tmp_path).read_bytes()

    kind, refusal = same_verdict_however_chunked("vdi", data, max_virtual_size=(16 << 20) - 512)

    assert kind == "rejected" and refusal[0] == "virtual_size_too_large", refusal  # type: ignore[index]
    assert "16777216 bytes" in refusal[1]  # type: ignore[index]


def test_bytes_without_the_vdi_signature_are_not_a_vdi(tmp_path: Path) -> None:
    data = corpus.vhdx_dynamic(tmp_path).read_bytes()[:4096]

    kind, refusal = same_verdict_however_chunked("vdi", data)

    assert kind == "rejected" and refusal[0] == "unknown_format", refusal  # type: ignore[index]
