"""The OVA inspector over archives made with tar (each of its formats) and with tarfile for hostile
members: the verdict is the same under every chunking, and an accepted OVA says where its disk lies."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from scp_images.formats.ova import OvaInspector
from tests.formats.vmdk_helpers import info, largest_retained, qemu_virtual_size, reason, same_verdict
from tests.support import corpus_vmdk as corpus
from tests.support.tools import require_qemu, run_tool

require_qemu(module_level=True)

HOSTILE_OVA = {maker: why for maker, why in corpus.REFUSALS.items() if maker.__name__.startswith("ova")}
REG = tarfile.REGTYPE


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ova-corpus")


@pytest.fixture(scope="session")
def disk(files: Path) -> bytes:
    return corpus.stream_optimized(files).read_bytes()


def verdict(data: bytes, ceiling: int = 1 << 40) -> tuple[str, object]:
    return same_verdict(data, OvaInspector, ceiling)


def archive(members: list[corpus.Member], fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, data, kind in members:
            entry = tarfile.TarInfo(name)
            entry.type = kind
            entry.size = len(data or b"")
            tar.addfile(entry, io.BytesIO(data or b""))
    return buffer.getvalue()


def ovf(*disks: str) -> bytes:
    return corpus.ovf_text(disks).encode()


def test_the_corpus_ova_passes_and_names_its_disk_bytes(files: Path) -> None:
    path = corpus.ova(files)
    data = path.read_bytes()

    found = info(verdict(data))

    disk = corpus.stream_optimized(files)
    assert found.disk_format == "ova"
    assert found.member_name == "disk.vmdk"
    assert found.member_offset is not None and found.member_size is not None
    assert data[found.member_offset : found.member_offset + found.member_size] == disk.read_bytes()
    assert found.inner is not None and found.inner.disk_format == "vmdk"
    assert found.virtual_size == found.inner.virtual_size == qemu_virtual_size(disk)


@pytest.mark.parametrize("fmt", ["gnu", "pax", "ustar", "posix"])
def test_every_tar_format_of_gnu_tar_passes(files: Path, fmt: str, disk: bytes) -> None:
    work = files / f"tar-{fmt}"
    work.mkdir(exist_ok=True)
    (work / "vm.ovf").write_bytes(ovf("disk.vmdk"))
    (work / "disk.vmdk").write_bytes(disk)
    out = work / "vm.ova"
    run_tool("tar", f"--format={fmt}", "-cf", str(out), "vm.ovf", "disk.vmdk", cwd=work)

    assert info(verdict(out.read_bytes())).member_size == len(disk)


def test_a_pax_archive_with_a_long_disk_name_passes(disk: bytes) -> None:
    name = "d" * 150 + ".vmdk"
    data = archive([("vm.ovf", ovf(name), REG), (name, disk, REG)], tarfile.PAX_FORMAT)

    assert info(verdict(data)).member_name == name


@pytest.mark.parametrize("maker", list(HOSTILE_OVA), ids=lambda maker: maker.__name__)
def test_hostile_corpus_is_refused_with_its_reason(maker: Callable[[Path], Path], files: Path) -> None:
    assert reason(verdict(maker(files).read_bytes())) == HOSTILE_OVA[maker]


def test_a_disk_over_the_ceiling_is_refused_naming_the_member(files: Path) -> None:
    outcome = verdict(corpus.ova_disk_over_ceiling(files).read_bytes(), ceiling=1 << 30)

    assert reason(outcome) == "virtual_size_too_large"
    assert "'disk.vmdk' at offset 2048" in outcome[1][1]  # type: ignore[index]


def test_a_hostile_disk_inside_is_refused_with_the_vmdk_reason(files: Path) -> None:
    bad = corpus.second_extent_host_file(files).read_bytes()

    outcome = verdict(archive([("vm.ovf", ovf("disk.vmdk"), REG), ("disk.vmdk", bad, REG)]))

    assert reason(outcome) == "vmdk_extent"
    assert "'/etc/passwd'" in outcome[1][1]  # type: ignore[index]


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([("disk.vmdk", b"D", REG), ("vm.ovf", b"O", REG)], "ova_descriptor"),  # .ovf not first
        ([("vm.ovf", b"O", REG), ("disk.vmdk", b"D", REG), ("vm.ovf", b"O", REG)], "ova_member"),
        ([("vm.ovf", b"O", REG), ("/disk.vmdk", b"D", REG)], "ova_member"),
        ([("vm.ovf", b"O", REG), ("dir/disk.vmdk", b"D", REG)], "ova_member"),
        ([("vm.ovf", b"O", REG), ("disk.vmdk", b"", tarfile.LNKTYPE)], "ova_member"),
        ([("vm.ovf", b"O", REG), ("disk.vmdk", b"", tarfile.CHRTYPE)], "ova_member"),
        ([("vm.ovf", b"O", REG), ("disk.vmdk", b"", tarfile.DIRTYPE)], "ova_member"),
        ([("vm.ovf", b"O", REG), ("disk.vmdk", b"", tarfile.FIFOTYPE)], "ova_member"),
        ([("vm.ovf", b"O", REG), ("notes.txt", b"hello", REG), ("disk.vmdk", b"D", REG)], "ova_disks"),
        ([("vm.ovf", b"O", REG)], "ova_disks"),
        ([], "ova_descriptor"),
    ],
)
def test_member_rules(members: list[corpus.Member], expected: str, disk: bytes) -> None:
    filled = [
        (name, ovf("disk.vmdk") if data == b"O" else disk if data == b"D" else data, kind)
        for name, data, kind in members
    ]

    assert reason(verdict(archive(filled))) == expected


def test_a_manifest_beside_the_disk_is_accepted(disk: bytes) -> None:
    data = archive(
        [
            ("vm.ovf", ovf("disk.vmdk"), REG),
            ("vm.mf", b"SHA256(disk.vmdk)= 00\n", REG),
            ("disk.vmdk", disk, REG),
        ]
    )

    assert info(verdict(data)).member_offset == 3072


def test_gnu_long_names_and_pax_global_headers_are_refused(disk: bytes) -> None:
    long_name = "d" * 150 + ".vmdk"
    gnu = archive([("vm.ovf", ovf(long_name), REG), (long_name, disk, REG)], tarfile.GNU_FORMAT)
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "x"}
    ) as tar:
        entry = tarfile.TarInfo("vm.ovf")
        entry.size = len(ovf("disk.vmdk"))
        tar.addfile(entry, io.BytesIO(ovf("disk.vmdk")))

    assert reason(verdict(gnu)) == "ova_member"
    assert reason(verdict(buffer.getvalue())) == "ova_member"


def test_extended_attributes_recorded_by_bsdtar_are_ignored(disk: bytes) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("vm.ovf", ovf("disk.vmdk")), ("disk.vmdk", disk)):
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            entry.pax_headers = {"LIBARCHIVE.xattr.com.apple.quarantine": "MDA4MTs=", "SCHILY.ino": "12"}
            tar.addfile(entry, io.BytesIO(data))

    assert info(verdict(buffer.getvalue())).member_name == "disk.vmdk"


def test_pax_keys_other_than_plain_file_ones_are_refused(disk: bytes) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entry = tarfile.TarInfo("vm.ovf")
        entry.size = len(ovf("disk.vmdk"))
        entry.pax_headers = {"linkpath": "/etc/passwd"}
        tar.addfile(entry, io.BytesIO(ovf("disk.vmdk")))

    assert reason(verdict(buffer.getvalue())) == "ova_member"


def test_broken_archives_are_refused(disk: bytes) -> None:
    good = archive([("vm.ovf", ovf("disk.vmdk"), REG), ("disk.vmdk", disk, REG)])
    bad_checksum = good[:148] + b"0000000\0" + good[156:]

    assert reason(verdict(bad_checksum)) == "ova_member"
    assert reason(verdict(good[: 1536 + len(disk) // 2])) == "truncated"
    assert reason(verdict(good[: 1536 + len(disk) + 512])) == "truncated"  # the end blocks are missing
    assert reason(verdict(good + b"junk")) == "ova_member"
    assert reason(verdict(b"")) == "truncated"
    assert reason(verdict(disk)) == "ova_member"  # a bare VMDK is not an archive


# --- the descriptor ---------------------------------------------------------------------------------


def with_ovf(text: bytes, disk: bytes) -> bytes:
    return archive([("vm.ovf", text, REG), ("disk.vmdk", disk, REG)])


@pytest.mark.parametrize(
    "text",
    [
        corpus.ovf_text(("disk.vmdk",), doctype='<!DOCTYPE Envelope SYSTEM "file:///etc/passwd">\n'),
        corpus.ovf_text(
            ("disk.vmdk",), doctype='<!DOCTYPE Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        ),
        corpus.ovf_text(
            ("disk.vmdk",), doctype='<!DOCTYPE Envelope [<!ENTITY % p SYSTEM "http://x/">%p;]>\n'
        ),
        corpus.ovf_text(("disk.vmdk",)).replace("</Envelope>", "<unclosed></Envelope>"),
        corpus.ovf_text(("disk.vmdk",)).replace('"disk.vmdk"', '"../disk.vmdk"'),
        corpus.ovf_text(("disk.vmdk",)).replace('"disk.vmdk"', '"file:///etc/passwd"'),
        corpus.ovf_text(("disk.vmdk",)).replace(
            'ovf:id="file0"/>', 'ovf:id="file0" ovf:compression="gzip"/>'
        ),
        corpus.ovf_text(("disk.vmdk",)).replace('ovf:fileRef="file0"', 'ovf:fileRef="file9"'),
        "<a>" * 100 + "</a>" * 100,
    ],
)
def test_descriptor_rules(text: str, disk: bytes) -> None:
    assert reason(verdict(with_ovf(text.encode(), disk))) == "ova_descriptor"


def test_a_descriptor_over_one_mib_is_refused(disk: bytes) -> None:
    text = corpus.ovf_text(("disk.vmdk",)).replace(
        "<References>", "<!--" + "x" * (1 << 20) + "--><References>"
    )

    assert reason(verdict(with_ovf(text.encode(), disk))) == "ova_descriptor"


def test_other_referenced_files_such_as_nvram_are_allowed(disk: bytes) -> None:
    text = corpus.ovf_text(("disk.vmdk",)).replace(
        "</References>", '    <File ovf:href="vm.nvram" ovf:id="nvram"/>\n  </References>'
    )
    data = archive([("vm.ovf", text.encode(), REG), ("disk.vmdk", disk, REG), ("vm.nvram", b"nv", REG)])

    assert info(verdict(data)).member_name == "disk.vmdk"


def test_the_disk_range_is_what_qemu_img_reads_as_the_known_data(files: Path) -> None:
    data = corpus.ova(files).read_bytes()
    found = info(verdict(data))
    assert found.member_offset is not None and found.member_size is not None
    member = files / "copied-member.vmdk"
    member.write_bytes(data[found.member_offset : found.member_offset + found.member_size])

    same = run_tool(
        "qemu-img", "compare", "-f", "vmdk", "-F", "raw", str(member), str(corpus.known_raw(files))
    )

    assert "identical" in same


def test_memory_stays_bounded_while_the_disk_streams_through() -> None:
    raw = b"".join(bytes([i % 251]) * 65536 for i in range(512))  # 32 MiB
    data = archive(
        [("vm.ovf", ovf("disk.vmdk"), REG), ("disk.vmdk", corpus.build_stream_with_footer(raw), REG)]
    )
    inspector = OvaInspector(max_virtual_size=1 << 40)

    held = largest_retained(inspector, data)

    assert inspector.finish().virtual_size == len(raw)
    assert held < 256 << 10  # a few pieces of at most 64 KiB; the stream itself is never kept
