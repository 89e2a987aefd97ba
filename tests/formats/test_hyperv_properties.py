"""Properties of the VHD, VHDX and VDI inspectors over mutated header fields: only a refusal with a
known reason escapes, and the verdict does not depend on how the stream is cut into chunks."""

from __future__ import annotations

import functools
import struct
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scp_images.domain.errors import DISK_NEXT_STEPS
from scp_images.formats.disk import DiskInfo
from scp_images.formats.vhd import vhd_checksum
from scp_images.formats.vhdx import crc32c
from tests.formats.helpers import chunked
from tests.formats.streaming import INSPECTORS, inspect, qemu_virtual_size
from tests.support import corpus_hyperv as corpus
from tests.support.tools import require_qemu, run_tool

require_qemu(module_level=True)

PROPERTY = settings(max_examples=120, deadline=None, database=None)
KiB = 1 << 10


@functools.cache
def base(kind: str, index: int) -> bytes:
    """The valid files of ``kind`` (made once per process), as bytes."""
    directory = Path(tempfile.mkdtemp(prefix=f"hyperv-{kind}-"))
    return corpus.VALID[kind][index](directory).read_bytes()


# Where the fields are: (start, end) ranges of each format's header structures worth flipping.
VHD_FIELDS = ((0, 100), (512, 560), (1536, 1580))
VDI_FIELDS = ((64, 96), (340, 456), (512, 600))
VHDX_FIELDS: tuple[tuple[int, int], ...] = (
    (0, 8),
    (64 * KiB, 64 * KiB + 80),
    (192 * KiB, 192 * KiB + 112),
    (2 << 20, (2 << 20) + 64),
    (3 << 20, (3 << 20) + 200),
    ((3 << 20) + 64 * KiB, (3 << 20) + 64 * KiB + 40),
)


def _fix_vhd(data: bytearray) -> None:
    for at in (0, len(data) - 512):
        if data[at : at + 8] == b"conectix":
            data[at + 64 : at + 68] = vhd_checksum(bytes(data[at : at + 512]), 64).to_bytes(4, "big")


def _fix_vhdx(data: bytearray) -> None:
    for at, length in (
        (64 * KiB, 4 * KiB),
        (128 * KiB, 4 * KiB),
        (192 * KiB, 64 * KiB),
        (256 * KiB, 64 * KiB),
    ):
        data[at + 4 : at + 8] = bytes(4)
        data[at + 4 : at + 8] = crc32c(bytes(data[at : at + length])).to_bytes(4, "little")


FIXERS = {"vhd": _fix_vhd, "vhdx": _fix_vhdx, "vdi": lambda data: None}
FIELDS = {"vhd": VHD_FIELDS, "vhdx": VHDX_FIELDS, "vdi": VDI_FIELDS}


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(corpus.VALID)))
    data = bytearray(base(kind, draw(st.integers(0, len(corpus.VALID[kind]) - 1))))
    for _ in range(draw(st.integers(1, 6))):
        start, end = draw(st.sampled_from(FIELDS[kind]))
        at = draw(st.integers(start, min(end, len(data)) - 1))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):  # most flips break a checksum: also judge the edit behind a valid one
        FIXERS[kind](data)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut]
    return kind, bytes(data)


@PROPERTY
@given(mutated(), st.lists(st.integers(min_value=1, max_value=4 << 20), max_size=20))
def test_the_verdict_is_a_known_refusal_or_a_disk_however_chunked(
    case: tuple[str, bytes], cuts: list[int]
) -> None:
    kind, data = case

    whole = inspect(kind, [data])
    pieces = inspect(kind, chunked(data, cuts))

    assert pieces == whole
    verdict, value = whole
    if verdict == "ok":
        assert isinstance(value, DiskInfo) and value.disk_format == kind
    else:
        assert value[0] in DISK_NEXT_STEPS  # type: ignore[index]


@PROPERTY
@given(
    st.sampled_from(sorted(corpus.VALID)),
    st.binary(max_size=2048),
    st.lists(st.integers(1, 2048), max_size=8),
)
def test_arbitrary_bytes_are_refused_the_same_way_however_chunked(
    kind: str, data: bytes, cuts: list[int]
) -> None:
    whole = inspect(kind, [data])

    assert whole[0] == "rejected"
    assert inspect(kind, chunked(data, cuts)) == whole


@PROPERTY
@given(st.integers(0, (1 << 64) - 1), st.sampled_from([b"win ", b"qemu", b"qem2", b"vpc "]))
def test_a_vhd_footer_size_beyond_the_ceiling_is_refused(current_size: int, creator: bytes) -> None:
    data = bytearray(base("vhd", 0))
    for at in (0, len(data) - 512):
        data[at + 28 : at + 32] = creator
        struct.pack_into(">Q", data, at + 48, current_size)
    _fix_vhd(data)
    ceiling = 1 << 30

    verdict, value = inspect("vhd", [bytes(data)], max_virtual_size=ceiling)

    if creator in (b"win ", b"qem2") and current_size // 512 * 512 > ceiling:
        assert verdict == "rejected" and value[0] in ("virtual_size_too_large", "vhd_structure")  # type: ignore[index]
    if verdict == "ok":
        assert isinstance(value, DiskInfo) and value.virtual_size <= ceiling


FIXED_MAKERS = {
    "vhd": ("vpc", "subformat=fixed"),
    "vhdx": ("vhdx", "subformat=fixed"),
    "vdi": ("vdi", "static=on"),
}


@pytest.mark.parametrize("kind", sorted(FIXED_MAKERS))
def test_memory_does_not_grow_with_the_file(kind: str, tmp_path: Path) -> None:
    """A 96 MiB preallocated disk, fed in 1 MiB chunks: the inspector keeps far less than one chunk."""
    driver, option = FIXED_MAKERS[kind]
    path = tmp_path / f"big.{kind}"
    run_tool("qemu-img", "create", "-q", "-f", driver, "-o", f"{option},preallocation=full", str(path), "96M")
    inspector = INSPECTORS[kind](max_virtual_size=1 << 40)
    chunk = 1 << 20

    with path.open("rb") as source:
        tracemalloc.start()
        try:
            while block := source.read(chunk):
                inspector.feed(block)
                del block
            info = inspector.finish()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert info.virtual_size == qemu_virtual_size(path, driver) >= 96 << 20
    assert path.stat().st_size > 96 << 20
    assert peak < chunk + (1 << 20), peak  # the chunk being read, plus under 1 MiB of our own


HOSTILE_MAKERS = sorted(corpus.HOSTILE, key=lambda make: make.__name__)


@pytest.mark.parametrize("make", HOSTILE_MAKERS, ids=[make.__name__ for make in HOSTILE_MAKERS])
def test_the_hostile_table_says_what_the_inspectors_say(make: Callable[[Path], Path], tmp_path: Path) -> None:
    """Other tests (end to end) rely on ``corpus_hyperv.HOSTILE``: it must stay true."""
    kind, reason = corpus.HOSTILE[make]

    verdict, value = inspect(kind, [make(tmp_path).read_bytes()])

    assert verdict == "rejected" and value[0] == reason, value  # type: ignore[index]
