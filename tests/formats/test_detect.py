"""The detecting inspector: the format is read from the bytes (never a name), checked against what the caller
declared and what the operator accepts, and the verdict does not depend on how the stream was cut."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scp_images.domain.disk_formats import ALL_ACCEPTED, DiskFormat
from scp_images.domain.errors import DiskImageRejected
from scp_images.formats.detect import DetectingInspector, sniff
from scp_images.formats.disk import DiskInfo
from tests.support import corpus_hyperv, corpus_vmdk
from tests.support.tools import require_qemu, run_tool

CEILING = 1 << 40
PROPERTY = settings(max_examples=40, deadline=None, database=None)

VALID: dict[str, tuple[Callable[[Path], Path], DiskFormat]] = {
    "vmdk-sparse": (corpus_vmdk.monolithic_sparse, DiskFormat.VMDK),
    "vmdk-stream": (corpus_vmdk.stream_optimized, DiskFormat.VMDK),
    "ova": (corpus_vmdk.ova, DiskFormat.OVA),
    "vhd-dynamic": (corpus_hyperv.vhd_dynamic, DiskFormat.VHD),
    "vhd-fixed": (corpus_hyperv.vhd_fixed, DiskFormat.VHD),
    "vhdx-dynamic": (corpus_hyperv.vhdx_dynamic, DiskFormat.VHDX),
    "vhdx-fixed": (corpus_hyperv.vhdx_fixed, DiskFormat.VHDX),
    "vdi-normal": (corpus_hyperv.vdi_normal, DiskFormat.VDI),
    "vdi-fixed": (corpus_hyperv.vdi_fixed, DiskFormat.VDI),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_qemu()
    return tmp_path_factory.mktemp("detect-corpus")


def qcow2(directory: Path) -> Path:
    path = directory / "disk.qcow2"
    if not path.exists():
        run_tool("qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M")
    return path


def judged(
    data: bytes,
    declared: DiskFormat | None = None,
    accepted: frozenset[DiskFormat] = ALL_ACCEPTED,
    cuts: list[int] | None = None,
) -> DiskInfo:
    inspector = DetectingInspector(declared=declared, accepted=accepted, max_virtual_size=CEILING)
    start = 0
    for cut in sorted(set(cuts or [])):
        if 0 < cut < len(data):
            inspector.feed(data[start:cut])
            start = cut
    inspector.feed(data[start:])
    return inspector.finish()


def refusal(data: bytes, declared: DiskFormat | None = None, **more: object) -> DiskImageRejected:
    with pytest.raises(DiskImageRejected) as refused:
        judged(data, declared, **more)  # type: ignore[arg-type]
    return refused.value


@pytest.mark.parametrize("name", sorted(VALID))
def test_each_format_is_found_from_its_bytes_and_may_be_declared(corpus: Path, name: str) -> None:
    make, disk_format = VALID[name]
    data = make(corpus).read_bytes()
    assert judged(data).disk_format is disk_format
    assert judged(data, disk_format).disk_format is disk_format
    expected_sniff = (
        None if name == "vhd-fixed" else disk_format
    )  # a fixed VHD has its footer at the end only
    assert sniff(data[:512]) is expected_sniff


def test_a_qcow2_is_found_and_stored_as_it_is(corpus: Path) -> None:
    info = judged(qcow2(corpus).read_bytes())
    assert (info.disk_format, info.virtual_size) == (DiskFormat.QCOW2, 16 << 20)


@pytest.mark.parametrize(
    ("name", "declared", "found"),
    [
        ("vmdk-stream", DiskFormat.VHDX, "a VMDK disk"),
        ("vhdx-dynamic", DiskFormat.VMDK, "a VHDX disk"),
        ("ova", DiskFormat.VMDK, "an OVA (tar) archive"),
        ("vdi-normal", DiskFormat.QCOW2, "a VDI disk"),
        ("vdi-normal", DiskFormat.RAW, "a VDI disk"),
        ("ova", DiskFormat.RAW, "an OVA (tar) archive"),
    ],
)
def test_a_declared_format_that_disagrees_with_the_bytes_is_refused(
    corpus: Path, name: str, declared: DiskFormat, found: str
) -> None:
    refused = refusal(VALID[name][0](corpus).read_bytes(), declared)
    assert refused.reason == "format_mismatch"
    assert refused.params["detail"] == f"disk_format is {declared} but the data is {found}"


def test_a_fixed_vhd_declared_as_vmdk_is_refused_as_a_mismatch(corpus: Path) -> None:
    refused = refusal(corpus_hyperv.vhd_fixed(corpus).read_bytes(), DiskFormat.VMDK)
    assert refused.reason == "format_mismatch"


def test_raw_keeps_todays_refusals_of_another_format(corpus: Path) -> None:
    refused = refusal(qcow2(corpus).read_bytes(), DiskFormat.RAW)
    assert (refused.reason, refused.params["detail"]) == (
        "format_mismatch",
        "disk_format is raw but the data is a qcow2",
    )
    raw = corpus_vmdk.known_raw(corpus).read_bytes()
    assert judged(raw, DiskFormat.RAW) == DiskInfo(DiskFormat.RAW, len(raw))


def test_bytes_of_no_disk_are_refused_unless_raw_is_declared(corpus: Path) -> None:
    raw = corpus_vmdk.known_raw(corpus).read_bytes()
    refused = refusal(raw)
    assert refused.reason == "not_qcow2" and "5a 5a" in str(refused.params["detail"])
    assert (
        refusal(b"\x1f\x8b" + bytes(1000)).reason == "not_qcow2"
    )  # an archive: no disk whatever is declared
    assert refusal(raw, DiskFormat.VHD).reason == "format_mismatch"
    assert refusal(b"").reason == "not_qcow2"


def test_a_format_the_operator_does_not_accept_is_refused(corpus: Path) -> None:
    only = frozenset({DiskFormat.QCOW2, DiskFormat.VMDK})
    for name in ("vhdx-dynamic", "vhd-fixed", "ova"):
        refused = refusal(VALID[name][0](corpus).read_bytes(), accepted=only)
        assert refused.reason == "format_not_accepted", name
    assert (
        judged(corpus_vmdk.stream_optimized(corpus).read_bytes(), accepted=only).disk_format
        is DiskFormat.VMDK
    )
    raw = corpus_vmdk.known_raw(corpus).read_bytes()
    assert refusal(raw, DiskFormat.RAW, accepted=only).reason == "format_not_accepted"


@PROPERTY
@given(name=st.sampled_from(sorted(VALID)), cuts=st.lists(st.integers(1, 4 << 20), max_size=12))
def test_the_verdict_does_not_depend_on_the_chunks(
    tmp_path_factory: pytest.TempPathFactory, name: str, cuts: list[int]
) -> None:
    directory = tmp_path_factory.getbasetemp() / "detect-chunks"
    directory.mkdir(exist_ok=True)
    require_qemu()
    make, disk_format = VALID[name]
    data = make(directory).read_bytes()
    assert judged(data, cuts=cuts) == judged(data)
    assert judged(data, cuts=[c % 600 for c in cuts]).disk_format is disk_format  # cuts around the sniffing
