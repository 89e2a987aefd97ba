"""The VMDK inspector over real files made by qemu-img (and VMware's streamOptimized layout), and over
byte-level edits of them: each verdict is the same under every chunking, and accepted files report the
virtual size ``qemu-img info`` reads."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from scp_images.formats.vmdk import VmdkInspector
from tests.formats.vmdk_helpers import (
    descriptor_of,
    info,
    largest_retained,
    put,
    qemu_virtual_size,
    reason,
    same_verdict,
    with_descriptor,
)
from tests.support import corpus_vmdk as corpus
from tests.support.tools import require_qemu

require_qemu(module_level=True)

SECTOR = 512
VALID = (corpus.monolithic_sparse, corpus.stream_optimized, corpus.stream_optimized_footer)
HOSTILE_VMDK = {maker: why for maker, why in corpus.REFUSALS.items() if not maker.__name__.startswith("ova")}


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vmdk-corpus")


def read(maker: Callable[[Path], Path], files: Path) -> bytes:
    return maker(files).read_bytes()


@pytest.mark.parametrize("maker", VALID, ids=lambda maker: maker.__name__)
def test_valid_files_pass_with_qemu_img_virtual_size(maker: Callable[[Path], Path], files: Path) -> None:
    path = maker(files)

    found = info(same_verdict(path.read_bytes()))

    assert found.virtual_size == qemu_virtual_size(path) == corpus.RAW_SIZE
    assert found.disk_format == "vmdk"


def test_an_empty_stream_optimized_image_from_qemu_img_create_passes(files: Path) -> None:
    path = corpus.claiming(files, 64 << 30)

    assert info(same_verdict(path.read_bytes())).virtual_size == qemu_virtual_size(path) == 64 << 30


@pytest.mark.parametrize("maker", list(HOSTILE_VMDK), ids=lambda maker: maker.__name__)
def test_hostile_corpus_is_refused_with_its_reason(maker: Callable[[Path], Path], files: Path) -> None:
    outcome = same_verdict(read(maker, files))

    assert reason(outcome) == HOSTILE_VMDK[maker]
    assert "offset" in outcome[1][1]  # type: ignore[index]


def test_the_extent_naming_a_host_file_is_quoted_in_the_detail(files: Path) -> None:
    outcome = same_verdict(read(corpus.second_extent_host_file, files))

    assert "'/etc/passwd'" in outcome[1][1]  # type: ignore[index]


def test_a_disk_over_the_ceiling_is_refused(files: Path) -> None:
    data = corpus.claiming(files, 64 << 30).read_bytes()

    assert reason(same_verdict(data, ceiling=(64 << 30) - 1)) == "virtual_size_too_large"
    assert reason(same_verdict(data, ceiling=64 << 30)) is None


# --- the header -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "expected"),
    [
        (4, "I", 4, "vmdk_header"),  # version
        (4, "I", 0, "vmdk_header"),
        (8, "I", 3 | 1 << 5, "vmdk_header"),  # an unknown flag
        (8, "I", 3 | 1 << 16, "vmdk_header"),  # compressed flag without deflate
        (12, "Q", 0, "vmdk_header"),  # capacity 0
        (12, "Q", 6144 + 128, "vmdk_header"),  # capacity not the extent's size
        (20, "Q", 3, "vmdk_header"),  # grain size not a power of two
        (20, "Q", 4096, "vmdk_header"),  # grain size beyond 1 MiB
        (28, "Q", 2, "vmdk_header"),  # descriptor not at sector 1
        (36, "Q", 0, "vmdk_header"),
        (36, "Q", 4096, "vmdk_header"),  # descriptor larger than 1 MiB
        (44, "I", 1024, "vmdk_header"),  # grain table entries beyond qemu's 512
        (56, "Q", 2, "vmdk_header"),  # grain directory inside the descriptor
        (56, "Q", 200, "vmdk_header"),  # grain directory after the metadata area
        (56, "Q", corpus.GD_AT_END, "vmdk_header"),  # "at the end" in a monolithicSparse
        (64, "Q", 10, "vmdk_header"),  # first grain inside the descriptor
        (77, "H", 2, "vmdk_header"),  # unknown compression
    ],
)
def test_header_field_edits_are_refused(
    files: Path, offset: int, fmt: str, value: int, expected: str
) -> None:
    data = put(read(corpus.monolithic_sparse, files), offset, fmt, value)

    assert reason(same_verdict(data)) == expected


def test_a_grain_directory_naming_a_table_past_the_end_is_refused(files: Path) -> None:
    data = read(corpus.monolithic_sparse, files)
    gd = struct.unpack_from("<Q", data, 56)[0] * SECTOR

    outcome = same_verdict(put(data, gd, "I", len(data) // SECTOR))

    assert reason(outcome) == "vmdk_outside_file"


def test_a_file_cut_before_its_first_grain_is_truncated(files: Path) -> None:
    data = read(corpus.monolithic_sparse, files)

    assert reason(same_verdict(data[: 100 * SECTOR])) == "truncated"
    assert reason(same_verdict(data[:300])) == "truncated"
    assert reason(same_verdict(b"")) == "truncated"


def test_a_file_cut_inside_its_descriptor_is_refused(files: Path) -> None:
    assert reason(same_verdict(read(corpus.monolithic_sparse, files)[:2048])) == "vmdk_header"


def test_bytes_of_other_formats_are_not_a_vmdk(files: Path) -> None:
    assert reason(same_verdict(b"QFI\xfb" + bytes(1020))) == "vmdk_header"
    assert reason(same_verdict(b"COWD" + bytes(1020))) == "vmdk_header"
    assert reason(same_verdict(corpus.known_raw(files).read_bytes())) == "vmdk_header"


# --- the descriptor ---------------------------------------------------------------------------------


def _descriptor_edit(files: Path, edit: Callable[[str], str]) -> bytes:
    data = read(corpus.monolithic_sparse, files)
    return with_descriptor(data, edit(descriptor_of(data)))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("parentCID=ffffffff", "parentCID=1234abcd", "vmdk_parent"),
        ("parentCID=ffffffff", 'parentCID=ffffffff\n# parentFileNameHint="base.vmdk"', "vmdk_parent"),
        ('createType="monolithicSparse"', 'createType="twoGbMaxExtentSparse"', "vmdk_create_type"),
        ('createType="monolithicSparse"', 'createType="streamOptimized"', "vmdk_header"),
        ('createType="monolithicSparse"', "", "vmdk_create_type"),
        ('RW 6144 SPARSE "sparse.vmdk.partial"', "", "vmdk_extent"),
        ("RW 6144 SPARSE", "RDONLY 6144 SPARSE", "vmdk_extent"),
        ("RW 6144 SPARSE", "RW 6144 VMFS", "vmdk_extent"),
        ("RW 6144 SPARSE", "RW 6144 ZERO", "vmdk_extent"),
        ("RW 6144 SPARSE", "RW 2048 SPARSE", "vmdk_header"),
        ('"sparse.vmdk.partial"', '"sub/sparse.vmdk"', "vmdk_extent"),
        ('"sparse.vmdk.partial"', '"..\\\\sparse.vmdk"', "vmdk_extent"),
        ('"sparse.vmdk.partial"', '"nbd:localhost:10809"', "vmdk_protocol"),
        ('"sparse.vmdk.partial"', '"C:disk.vmdk"', "vmdk_protocol"),
        ('"sparse.vmdk.partial"', '"sparse.vmdk" 0', "vmdk_extent"),
        ('ddb.adapterType = "ide"', 'ddb.adapterType = "JSON:{}"', "vmdk_protocol"),
        ('ddb.adapterType = "ide"', 'ddb.adapterType = "http://example.com/x"', "vmdk_protocol"),
        ('ddb.adapterType = "ide"', 'ddb.adapterType = "ide"\nddb.adapterType = "lsilogic"', "vmdk_header"),
        ('ddb.adapterType = "ide"', "this is not a setting", "vmdk_header"),
    ],
)
def test_descriptor_edits_are_refused(files: Path, old: str, new: str, expected: str) -> None:
    data = _descriptor_edit(files, lambda text: _replace(text, old, new))

    assert reason(same_verdict(data)) == expected


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, (old, text)
    return text.replace(old, new)


def test_the_extent_name_is_otherwise_ignored(files: Path) -> None:
    data = _descriptor_edit(
        files, lambda text: _replace(text, '"sparse.vmdk.partial"', '"another name.vmdk"')
    )

    assert info(same_verdict(data)).virtual_size == corpus.RAW_SIZE


def test_a_descriptor_filling_its_area_without_an_end_is_refused(files: Path) -> None:
    data = read(corpus.monolithic_sparse, files)
    text = descriptor_of(data) + "#" * (20 * SECTOR)
    edited = data[:SECTOR] + text.encode()[: 20 * SECTOR] + data[21 * SECTOR :]

    assert reason(same_verdict(edited)) == "vmdk_header"


# --- streamOptimized markers -----------------------------------------------------------------------


def _markers(data: bytes) -> list[tuple[int, int, int, int]]:
    """(offset, value, size, type) of every marker from sector 128 to end-of-stream."""
    found, pos = [], 128 * SECTOR
    while pos < len(data):
        value, size, kind = struct.unpack_from("<QII", data, pos)
        found.append((pos, value, size, kind))
        if size:
            pos += -(-(12 + size) // SECTOR) * SECTOR
        elif kind == 0:
            break
        else:
            pos += SECTOR + value * SECTOR
    return found


def test_qemu_img_stream_data_after_the_end_of_stream_zeros_is_refused(files: Path) -> None:
    data = read(corpus.stream_optimized, files)

    assert reason(same_verdict(data[:-SECTOR] + b"\1" + bytes(SECTOR - 1))) == "vmdk_header"


def test_vmware_stream_markers_past_the_end_are_refused(files: Path) -> None:
    data = read(corpus.stream_optimized_footer, files)
    gt = next(pos for pos, _, size, kind in _markers(data) if not size and kind == 1)

    assert reason(same_verdict(put(data, gt, "Q", 1 << 40))) == "vmdk_header"  # not a table's length
    assert reason(same_verdict(data[: gt + 2 * SECTOR])) == "vmdk_outside_file"
    assert reason(same_verdict(data[:-SECTOR])) == "truncated"


def test_vmware_stream_footer_that_contradicts_the_header_is_refused(files: Path) -> None:
    data = read(corpus.stream_optimized_footer, files)
    footer = len(data) - 2 * SECTOR

    assert reason(same_verdict(put(data, footer + 12, "Q", 12288))) == "vmdk_header"  # capacity
    assert reason(same_verdict(put(data, footer + 56, "Q", 3))) == "vmdk_header"  # directory moved
    assert reason(same_verdict(put(data, footer, "4s", b"XXXX"))) == "vmdk_header"


def test_vmware_stream_needs_its_footer_and_nothing_after_the_end(files: Path) -> None:
    data = read(corpus.stream_optimized_footer, files)
    no_footer = data[: -3 * SECTOR] + data[-SECTOR:]

    assert reason(same_verdict(no_footer)) == "vmdk_header"
    assert reason(same_verdict(data + bytes(SECTOR))) == "vmdk_header"


def test_grain_markers_outside_the_disk_or_oversized_are_refused(files: Path) -> None:
    data = read(corpus.stream_optimized, files)
    first = 128 * SECTOR

    assert reason(same_verdict(put(data, first, "Q", 6144))) == "vmdk_header"  # past the capacity
    assert reason(same_verdict(put(data, first, "Q", 1))) == "vmdk_header"  # not a grain's start
    assert reason(same_verdict(put(data, first + 8, "I", 200_000))) == "vmdk_header"


def test_a_stream_grain_directory_past_the_end_is_refused(files: Path) -> None:
    raw = corpus.known_raw(files).read_bytes()
    data = corpus.build_stream_with_footer(raw)
    gd_marker = next(pos for pos, _, size, kind in _markers(data) if not size and kind == 2)

    outcome = same_verdict(put(data, gd_marker + SECTOR, "I", len(data) // SECTOR + 1))

    assert reason(outcome) == "vmdk_outside_file"


def test_the_writer_makes_what_qemu_reads(files: Path) -> None:
    data = corpus.build_stream_with_footer(bytes(4096) + zlib.compress(b"x") * 100)
    path = files / "tiny-stream.vmdk"
    path.write_bytes(data)

    assert info(same_verdict(data)).virtual_size == qemu_virtual_size(path)


def test_a_redundant_directory_beside_a_directory_at_the_end(files: Path) -> None:
    data = read(corpus.stream_optimized_footer, files)
    footer = len(data) - 2 * SECTOR

    flagged = put(put(data, 8, "I", 0x30003), footer + 8, "I", 0x30003)
    named = put(put(flagged, 48, "Q", 21), footer + 48, "Q", 21)

    assert info(same_verdict(flagged)).virtual_size == corpus.RAW_SIZE  # offset 0: qemu ignores the flag
    assert reason(same_verdict(named)) == "vmdk_header"


def test_memory_stays_bounded_whatever_the_file_size() -> None:
    raw = b"".join(bytes([i % 251]) * 65536 for i in range(512))  # 32 MiB, 512 distinct grains
    data = corpus.build_stream_with_footer(raw)
    inspector = VmdkInspector(max_virtual_size=1 << 40)

    held = largest_retained(inspector, data)

    assert inspector.finish().virtual_size == len(raw)
    assert held < 256 << 10  # a few pieces of at most 64 KiB; the stream itself is never kept
