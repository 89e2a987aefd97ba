"""VMDK and OVA files for tests, valid and hostile, made at test time with qemu-img, qemu-io and tar.

Each maker takes a directory (it writes there and may reuse files it made there before) and returns
the path of the file to send. Valid disks hold known data (``KNOWN_WRITES`` on a raw disk of
``RAW_SIZE`` bytes, returned by ``known_raw``), so a converted image can be compared with
``qemu-img compare``. Hostile files are valid files edited at the byte level, or archives written with
``tarfile`` where ``tar`` would refuse to make them. ``REFUSALS`` says the reason each hostile maker's
file is refused with.
"""

from __future__ import annotations

import io
import struct
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

from tests.support.tools import run_tool

RAW_SIZE = 3 << 20
KNOWN_WRITES = (("0x5a", 0, 1 << 20), ("0x33", 2 << 20, 64 << 10))
SECTOR = 512
HEADER = struct.Struct("<4sIIQQQQIQQQ5sH")
GD_AT_END = 0xFFFFFFFFFFFFFFFF


def _qemu_img(directory: Path, *args: str) -> None:
    run_tool("qemu-img", *args, cwd=directory)


def _once(directory: Path, name: str, make: Callable[[Path], object]) -> Path:
    path = directory / name
    if not path.exists():
        partial = directory / (name + ".partial")
        make(partial)
        partial.rename(path)
    return path


# --- valid ------------------------------------------------------------------------------------------


def known_raw(directory: Path) -> Path:
    """A raw disk of ``RAW_SIZE`` bytes: 1 MiB of 0x5a at 0, 64 KiB of 0x33 at 2 MiB, zeros elsewhere."""

    def make(path: Path) -> None:
        _qemu_img(directory, "create", "-q", "-f", "raw", str(path), str(RAW_SIZE))
        for pattern, offset, length in KNOWN_WRITES:
            run_tool("qemu-io", "-f", "raw", "-c", f"write -P {pattern} {offset} {length}", str(path))

    return _once(directory, "known.raw", make)


def _convert(directory: Path, name: str, subformat: str) -> Path:
    raw = known_raw(directory)
    make = lambda path: _qemu_img(  # noqa: E731
        directory, "convert", "-f", "raw", "-O", "vmdk", "-o", f"subformat={subformat}", str(raw), str(path)
    )
    return _once(directory, name, make)


def monolithic_sparse(directory: Path) -> Path:
    return _convert(directory, "sparse.vmdk", "monolithicSparse")


def stream_optimized(directory: Path) -> Path:
    """What ``qemu-img convert -o subformat=streamOptimized`` writes: its grain directory in the header."""
    return _convert(directory, "stream.vmdk", "streamOptimized")


def stream_optimized_footer(directory: Path) -> Path:
    """A streamOptimized VMDK laid out as VMware writes it (qemu-img cannot): header with the grain
    directory "at the end", compressed grains, grain-table and grain-directory markers, a footer and
    an end-of-stream marker; qemu reads it through the footer."""
    raw = known_raw(directory).read_bytes()
    return _once(
        directory, "vmware-stream.vmdk", lambda path: path.write_bytes(build_stream_with_footer(raw))
    )


def ova(directory: Path) -> Path:
    """An OVA made with ``tar``: the .ovf first, then its one streamOptimized disk."""
    work = directory / "ova-valid"
    work.mkdir(exist_ok=True)
    (work / "disk.vmdk").write_bytes(stream_optimized(directory).read_bytes())
    (work / "vm.ovf").write_text(ovf_text(("disk.vmdk",)))
    (work / "vm.mf").write_text("SHA256(disk.vmdk)= 0\n")

    def make(path: Path) -> None:
        run_tool("tar", "-cf", str(path), "vm.ovf", "disk.vmdk", "vm.mf", cwd=work)

    return _once(directory, "vm.ova", make)


# --- hostile VMDK -----------------------------------------------------------------------------------


def _edit_descriptor(directory: Path, name: str, edit: Callable[[str], str]) -> Path:
    """The monolithicSparse file with its embedded descriptor text replaced by ``edit(text)``."""
    data = bytearray(monolithic_sparse(directory).read_bytes())
    area = data[SECTOR : SECTOR * 21]
    text = area.split(b"\0", 1)[0].decode()
    new = edit(text).encode()
    assert len(new) < len(area), "the edited descriptor does not fit its area"
    data[SECTOR : SECTOR * 21] = new.ljust(len(area), b"\0")
    return _once(directory, name, lambda path: path.write_bytes(bytes(data)))


def _extent_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("RW "))


def second_extent_host_file(directory: Path) -> Path:
    """A second extent line naming /etc/passwd (CVE-2022-47951's shape)."""

    def edit(text: str) -> str:
        line = _extent_line(text)
        return text.replace(line, line + '\nRW 2048 FLAT "/etc/passwd" 0')

    return _edit_descriptor(directory, "second-extent.vmdk", edit)


def json_extent_name(directory: Path) -> Path:
    """The extent's file name is a ``json:`` block-driver specification reading /etc/passwd."""

    def edit(text: str) -> str:
        line = _extent_line(text)
        target = 'json:{"file.filename":"/etc/passwd"}'
        return text.replace(line, f'RW {line.split()[1]} SPARSE "{target}"')

    return _edit_descriptor(directory, "json-extent.vmdk", edit)


def flat_create_type(directory: Path) -> Path:
    """A sparse file whose embedded descriptor says monolithicFlat."""
    return _edit_descriptor(
        directory, "flat-type.vmdk", lambda text: text.replace('"monolithicSparse"', '"monolithicFlat"')
    )


def monolithic_flat(directory: Path) -> Path:
    """The text descriptor ``qemu-img create -o subformat=monolithicFlat`` writes (its data is in -flat)."""
    _once(
        directory,
        "flat.vmdk",
        lambda path: _qemu_img(
            directory, "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", str(path), "1M"
        ),
    )
    return directory / "flat.vmdk"


def capacity_zero_with_extents(directory: Path) -> Path:
    """Capacity 0 and a descriptor whose FLAT extent names /etc/passwd: qemu would open that file."""
    base = second_extent_host_file(directory).read_bytes()
    data = bytearray(base)
    data[12:20] = bytes(8)
    return _once(directory, "capacity-zero.vmdk", lambda path: path.write_bytes(bytes(data)))


def stream_grain_past_end(directory: Path) -> Path:
    """The streamOptimized file cut after its last grain, whose marker then claims 512 more bytes."""
    data = stream_optimized(directory).read_bytes()
    pos, last = 128 * SECTOR, None
    while pos < len(data):
        size = struct.unpack_from("<I", data, pos + 8)[0]
        if not size:
            break
        last, pos = pos, pos + -(-(12 + size) // SECTOR) * SECTOR
    assert last is not None
    edited = bytearray(data[:pos])
    struct.pack_into("<I", edited, last + 8, (pos - last) + SECTOR - 12)
    return _once(directory, "grain-past-end.vmdk", lambda path: path.write_bytes(bytes(edited)))


def delta_with_parent(directory: Path) -> Path:
    """``qemu-img create -f vmdk -b BASE -F vmdk``: a delta whose descriptor has parentFileNameHint."""
    base = monolithic_sparse(directory)

    def make(path: Path) -> None:
        _qemu_img(directory, "create", "-q", "-f", "vmdk", "-b", base.name, "-F", "vmdk", str(path))

    return _once(directory, "delta.vmdk", make)


def claiming(directory: Path, virtual_size: int = 64 << 30) -> Path:
    """A valid, empty streamOptimized VMDK of ``virtual_size`` bytes (to cross a ceiling)."""
    name = f"claims-{virtual_size}.vmdk"
    make = lambda path: _qemu_img(  # noqa: E731
        directory,
        "create",
        "-q",
        "-f",
        "vmdk",
        "-o",
        "subformat=streamOptimized",
        str(path),
        str(virtual_size),
    )
    return _once(directory, name, make)


# --- hostile OVA ------------------------------------------------------------------------------------


def ovf_text(disks: tuple[str, ...], *, doctype: str = "") -> str:
    """An OVF 1.0 envelope naming ``disks`` in References and DiskSection."""
    files = "".join(f'    <File ovf:href="{name}" ovf:id="file{i}"/>\n' for i, name in enumerate(disks))
    items = "".join(
        f'    <Disk ovf:capacity="3" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk{i}" '
        f'ovf:fileRef="file{i}" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html'
        '#streamOptimized"/>\n'
        for i in range(len(disks))
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}'
        '<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" '
        'xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">\n'
        f"  <References>\n{files}  </References>\n"
        f"  <DiskSection>\n    <Info>Virtual disk information</Info>\n{items}  </DiskSection>\n"
        '  <VirtualSystem ovf:id="vm">\n    <Info>A virtual machine &amp; its disk</Info>\n'
        "  </VirtualSystem>\n</Envelope>\n"
    )


Member = tuple[str, bytes | None, bytes]  # name, data (None: not a regular file), tar type


def write_ova(path: Path, members: list[Member], *, link_target: str = "/etc/passwd") -> Path:
    """A tar written member by member with ``tarfile`` (ustar), whatever the names and types."""
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if data is None:
                info.linkname = link_target
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def _hostile_ova(directory: Path, name: str, members: Callable[[bytes], list[Member]]) -> Path:
    disk = stream_optimized(directory).read_bytes()
    return _once(directory, name, lambda path: write_ova(path, members(disk)))


def ova_parent_dir_member(directory: Path) -> Path:
    ovf = ovf_text(("disk.vmdk",)).encode()
    return _hostile_ova(
        directory,
        "dotdot.ova",
        lambda disk: [("vm.ovf", ovf, tarfile.REGTYPE), ("../disk.vmdk", disk, tarfile.REGTYPE)],
    )


def ova_symlink_member(directory: Path) -> Path:
    ovf = ovf_text(("disk.vmdk",)).encode()
    return _hostile_ova(
        directory,
        "symlink.ova",
        lambda disk: [("vm.ovf", ovf, tarfile.REGTYPE), ("disk.vmdk", None, tarfile.SYMTYPE)],
    )


def ova_two_disks(directory: Path) -> Path:
    ovf = ovf_text(("disk1.vmdk", "disk2.vmdk")).encode()
    return _hostile_ova(
        directory,
        "two-disks.ova",
        lambda disk: [
            ("vm.ovf", ovf, tarfile.REGTYPE),
            ("disk1.vmdk", disk, tarfile.REGTYPE),
            ("disk2.vmdk", disk, tarfile.REGTYPE),
        ],
    )


def ova_missing_disk(directory: Path) -> Path:
    ovf = ovf_text(("elsewhere.vmdk",)).encode()
    return _hostile_ova(directory, "missing-disk.ova", lambda disk: [("vm.ovf", ovf, tarfile.REGTYPE)])


BILLION_LAUGHS = (
    '<!DOCTYPE Envelope [\n  <!ENTITY lol "lol">\n'
    + "".join(
        f'  <!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n"
)


def ova_xml_entity(directory: Path) -> Path:
    """The .ovf declares nested entities (billion laughs) and uses them."""
    text = ovf_text(("disk.vmdk",), doctype=BILLION_LAUGHS).replace("A virtual machine", "&lol9;")
    return _hostile_ova(
        directory,
        "entity.ova",
        lambda disk: [("vm.ovf", text.encode(), tarfile.REGTYPE), ("disk.vmdk", disk, tarfile.REGTYPE)],
    )


def ova_disk_over_ceiling(directory: Path, virtual_size: int = 64 << 30) -> Path:
    ovf = ovf_text(("disk.vmdk",)).encode()
    big = claiming(directory, virtual_size).read_bytes()
    return _once(
        directory,
        f"over-ceiling-{virtual_size}.ova",
        lambda path: write_ova(path, [("vm.ovf", ovf, tarfile.REGTYPE), ("disk.vmdk", big, tarfile.REGTYPE)]),
    )


# Each hostile maker, and the reason its file is refused with.
REFUSALS: dict[Callable[[Path], Path], str] = {
    second_extent_host_file: "vmdk_extent",
    json_extent_name: "vmdk_protocol",
    flat_create_type: "vmdk_create_type",
    monolithic_flat: "vmdk_descriptor_only",
    capacity_zero_with_extents: "vmdk_header",
    stream_grain_past_end: "vmdk_outside_file",
    delta_with_parent: "vmdk_parent",
    ova_parent_dir_member: "ova_member",
    ova_symlink_member: "ova_member",
    ova_two_disks: "ova_disks",
    ova_missing_disk: "ova_disks",
    ova_xml_entity: "ova_descriptor",
}


# --- a streamOptimized writer in VMware's layout, independent of the code under test ---------------


def build_stream_with_footer(raw: bytes, grain_sectors: int = 128, name: str = "disk.vmdk") -> bytes:
    grain = grain_sectors * SECTOR
    capacity = -(-len(raw) // SECTOR)
    gtes = 512
    gd_entries = -(-capacity // (gtes * grain_sectors))
    descriptor = (
        "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n"
        f'createType="streamOptimized"\n\n# Extent description\nRW {capacity} SPARSE "{name}"\n\n'
        '# The Disk Data Base\n#DDB\n\nddb.adapterType = "lsilogic"\nddb.virtualHWVersion = "4"\n'
    ).encode()
    overhead = 128

    def header(gd_offset: int) -> bytes:
        fields = HEADER.pack(
            b"KDMV", 3, 0x30001, capacity, grain_sectors, 1, 20, gtes, 0, gd_offset, overhead,
            b"\0\n \r\n", 1,
        )  # fmt: skip
        return fields.ljust(SECTOR, b"\0")

    out = bytearray(header(GD_AT_END) + descriptor.ljust(20 * SECTOR, b"\0"))
    out += bytes(overhead * SECTOR - len(out))
    table = [0] * (gd_entries * gtes)
    for index in range(-(-len(raw) // grain)):
        chunk = raw[index * grain : (index + 1) * grain].ljust(grain, b"\0")
        if not any(chunk):
            continue
        table[index] = len(out) // SECTOR
        packed = zlib.compress(chunk)
        record = struct.pack("<QI", index * grain_sectors, len(packed)) + packed
        out += record.ljust(-(-len(record) // SECTOR) * SECTOR, b"\0")
    directory = []
    for t in range(gd_entries):
        out += _marker(gtes * 4 // SECTOR, 1)
        directory.append(len(out) // SECTOR)
        out += struct.pack(f"<{gtes}I", *table[t * gtes : (t + 1) * gtes])
    gd_sectors = -(-gd_entries * 4 // SECTOR)
    out += _marker(gd_sectors, 2)
    gd_offset = len(out) // SECTOR
    out += struct.pack(f"<{gd_entries}I", *directory).ljust(gd_sectors * SECTOR, b"\0")
    out += _marker(1, 3) + header(gd_offset) + _marker(0, 0)
    return bytes(out)


def _marker(sectors: int, kind: int) -> bytes:
    return struct.pack("<QII", sectors, 0, kind).ljust(SECTOR, b"\0")
