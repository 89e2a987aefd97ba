"""The VHD inspector on real files made by qemu-img, and on hostile edits of them."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from scp_images.formats.disk import DiskInfo
from scp_images.formats.vhd import has_vhd_footer
from tests.formats.streaming import qemu_virtual_size, same_verdict_however_chunked
from tests.support import corpus_hyperv as corpus
from tests.support.tools import require_qemu

require_qemu(module_level=True)

Maker = Callable[[Path], Path]


@pytest.mark.parametrize("make", corpus.VALID["vhd"], ids=lambda make: make.__name__)
def test_a_valid_vhd_passes_with_qemus_virtual_size(make: Maker, tmp_path: Path) -> None:
    path = make(tmp_path)
    data = path.read_bytes()

    kind, info = same_verdict_however_chunked("vhd", data)

    assert kind == "ok" and isinstance(info, DiskInfo), info
    assert info.disk_format == "vhd"
    assert info.virtual_size == qemu_virtual_size(path, "vpc")
    assert has_vhd_footer(data[-512:]) and has_vhd_footer(data[-4096:])


@pytest.mark.parametrize("creator", [b"win ", b"qem2", b"d2v ", b"CTXS", b"tap\0", b"vpc ", b"qemu"])
def test_the_virtual_size_follows_qemus_rule_for_each_creator(creator: bytes, tmp_path: Path) -> None:
    """Hyper-V and the other exact-size creators use the footer's current size, Virtual PC and old qemu
    the CHS geometry: a footer where the two disagree tells them apart."""

    def edit(data: bytearray) -> None:
        corpus._set_both_footers(data, 28, creator)
        corpus._set_both_footers(data, 48, (12 << 20).to_bytes(8, "big"))

    path = corpus._edit(corpus.vhd_dynamic(tmp_path), "creator.vhd", edit)

    kind, info = same_verdict_however_chunked("vhd", path.read_bytes())

    assert kind == "ok" and isinstance(info, DiskInfo), info
    assert info.virtual_size == qemu_virtual_size(path, "vpc")


HOSTILE = [
    (corpus.vhd_differencing, "vhd_disk_type", "disk type 4 (differencing)", "at offset 0"),
    (corpus.vhd_fixed_differencing, "vhd_disk_type", "disk type 4 (differencing)", "at offset 16781312"),
    (corpus.vhd_bad_checksum, "vhd_checksum", "the footer at offset 0 has checksum", ""),
    (corpus.vhd_block_outside, "truncated", "points outside itself", "the block at offset"),
    (corpus.vhd_dynamic_header_outside, "truncated", "dynamic header at offset 1099511627776", "ends after"),
    (
        corpus.vhd_block_over_bat,
        "vhd_structure",
        "before the end of the BAT at offset 1572",
        "at offset 1536",
    ),
]


@pytest.mark.parametrize(
    ("make", "reason", "fragment", "where"), HOSTILE, ids=lambda p: getattr(p, "__name__", "")
)
def test_a_hostile_vhd_is_refused_with_its_rule_and_offset(
    make: Maker, reason: str, fragment: str, where: str, tmp_path: Path
) -> None:
    kind, refusal = same_verdict_however_chunked("vhd", make(tmp_path).read_bytes())

    assert kind == "rejected"
    assert refusal[0] == reason, refusal  # type: ignore[index]
    assert fragment in refusal[1] and where in refusal[1], refusal  # type: ignore[index]


def test_a_dynamic_vhd_cut_short_anywhere_is_truncated(tmp_path: Path) -> None:
    data = corpus.vhd_dynamic(tmp_path).read_bytes()
    for cut in (1, 511, 512, 700, 1536, 2047, 4096, len(data) // 2, len(data) - 1):
        kind, refusal = same_verdict_however_chunked("vhd", data[:cut])
        assert kind == "rejected" and refusal[0] == "truncated", (cut, refusal)  # type: ignore[index]


def test_a_fixed_vhd_cut_short_has_no_footer_left(tmp_path: Path) -> None:
    data = corpus.vhd_fixed(tmp_path).read_bytes()

    kind, refusal = same_verdict_however_chunked("vhd", data[:-1])

    assert kind == "rejected" and refusal[0] == "unknown_format", refusal  # type: ignore[index]
    assert not has_vhd_footer(data[:-1])


def test_a_fixed_vhd_whose_size_disagrees_with_its_data_is_refused(tmp_path: Path) -> None:
    data = bytearray(corpus.vhd_fixed(tmp_path).read_bytes())
    corpus._set_footer(data, len(data) - 512, 48, (32 << 20).to_bytes(8, "big"))

    kind, refusal = same_verdict_however_chunked("vhd", bytes(data))

    assert kind == "rejected" and refusal[0] == "vhd_structure", refusal  # type: ignore[index]
    assert "33554432 bytes" in refusal[1]  # type: ignore[index]


@pytest.mark.parametrize("make", [corpus.vhd_dynamic, corpus.vhd_fixed], ids=lambda make: make.__name__)
def test_a_vhd_beyond_the_ceiling_is_refused(make: Maker, tmp_path: Path) -> None:
    kind, refusal = same_verdict_however_chunked("vhd", make(tmp_path).read_bytes(), max_virtual_size=8 << 20)

    assert kind == "rejected" and refusal[0] == "virtual_size_too_large", refusal  # type: ignore[index]


def test_the_footer_helper_needs_the_cookie_and_a_valid_checksum(tmp_path: Path) -> None:
    footer = bytearray(corpus.vhd_fixed(tmp_path).read_bytes()[-512:])
    assert has_vhd_footer(bytes(footer))

    broken = bytearray(footer)
    broken[100] ^= 1
    assert not has_vhd_footer(bytes(broken))
    assert not has_vhd_footer(bytes(footer[:-1]))
    assert not has_vhd_footer(b"\0" * 512)
    assert not has_vhd_footer(b"QFI\xfb" + bytes(508))
    assert struct.unpack_from(">I", footer, 60)[0] == 2


def test_a_footer_copy_at_the_start_of_a_fixed_disk_is_refused(tmp_path: Path) -> None:
    """A fixed disk whose first sector is its own footer: qemu would take the copy for the footer."""
    data = corpus.vhd_fixed(tmp_path).read_bytes()
    doubled = data[-512:] + data[512:]

    kind, refusal = same_verdict_however_chunked("vhd", doubled)

    assert kind == "rejected" and refusal[0] == "vhd_structure", refusal  # type: ignore[index]
    assert "the footer at offset 0 says fixed" in refusal[1]  # type: ignore[index]


def test_a_dynamic_footer_without_its_copy_at_offset_0_is_refused(tmp_path: Path) -> None:
    data = bytearray(corpus.vhd_dynamic(tmp_path).read_bytes())
    data[0:8] = bytes(8)

    kind, refusal = same_verdict_however_chunked("vhd", bytes(data))

    assert kind == "rejected" and refusal[0] == "vhd_structure", refusal  # type: ignore[index]
    assert "says dynamic, but there is no footer copy at offset 0" in refusal[1]  # type: ignore[index]


def test_footers_that_disagree_are_refused(tmp_path: Path) -> None:
    data = bytearray(corpus.vhd_dynamic(tmp_path).read_bytes())
    corpus._set_footer(data, len(data) - 512, 24, b"\1\2\3\4")  # the timestamp, checksum fixed

    kind, refusal = same_verdict_however_chunked("vhd", bytes(data))

    assert kind == "rejected" and refusal[0] == "vhd_structure", refusal  # type: ignore[index]
    assert "differs from its copy at offset 0" in refusal[1]  # type: ignore[index]
