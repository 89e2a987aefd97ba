"""The raw format check: any bytes, except bytes that are another format; the verdict does not depend on
how the stream is cut."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scp_images.domain.errors import DiskImageRejected
from scp_images.formats import RawInspector

MiB = 1 << 20


def _judge(data: bytes, cuts: list[int]) -> object:
    inspector = RawInspector(max_virtual_size=64 * MiB)
    start = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        inspector.feed(data[start:cut])
        start = cut
    return inspector.finish().virtual_size


def _iso() -> bytes:
    data = bytearray(0x9800)
    data[0x8001:0x8006] = b"CD001"
    return bytes(data)


FOREIGN = {
    "qcow2": b"QFI\xfb" + bytes(1020),
    "vmdk": b"KDMV" + bytes(1020),
    "vhdx": b"vhdxfile" + bytes(1016),
    "luks": b"LUKS\xba\xbe" + bytes(1018),
    "gzip": b"\x1f\x8b" + bytes(1022),
    "iso": _iso(),
    "vhd-footer": bytes(4096) + b"conectix" + bytes(504),
}


@pytest.mark.parametrize("name", list(FOREIGN))
@given(cuts=st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=6))
def test_another_format_is_refused_however_cut(name: str, cuts: list[int]) -> None:
    with pytest.raises(DiskImageRejected) as refused:
        _judge(FOREIGN[name], cuts)
    assert refused.value.reason == "format_mismatch"


@given(
    data=st.binary(min_size=0, max_size=4096).filter(
        lambda b: (
            not b.startswith((b"QFI", b"KD", b"vh", b"co", b"LU", b"\x1f", b"\xfd", b"\x28", b"PK", b"#"))
        )
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=4096), max_size=6),
)
def test_other_bytes_are_a_raw_disk_of_their_size(data: bytes, cuts: list[int]) -> None:
    assert _judge(data, cuts) == len(data)


def test_a_raw_disk_beyond_the_virtual_size_limit_is_refused() -> None:
    inspector = RawInspector(max_virtual_size=10)
    inspector.feed(bytes(11))
    with pytest.raises(DiskImageRejected) as refused:
        inspector.finish()
    assert refused.value.reason == "virtual_size_too_large"
