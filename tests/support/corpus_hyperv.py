"""VHD, VHDX and VDI files for tests: valid ones made by qemu-img with known data written by qemu-io,
and hostile ones made by editing a valid file's bytes (qemu-img cannot create differencing disks of
these formats). Each maker takes a directory and returns the path it wrote.

The byte edits use their own checksum code (bitwise, unlike the inspectors' table), so a test of the
inspectors does not check them against themselves.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.support.tools import run_tool

KiB, MiB = 1 << 10, 1 << 20
# The data every valid file holds: (pattern byte, offset, length), written by qemu-io.
KNOWN_DATA = ((0x5A, 0, MiB), (0xA5, 5 * MiB, 512 * KiB), (0x3C, 9 * MiB - 4 * KiB, 8 * KiB))
SIZE = "16M"
QEMU_DRIVER = {"vhd": "vpc", "vhdx": "vhdx", "vdi": "vdi"}


def _create(directory: Path, name: str, driver: str, *options: str, size: str = SIZE) -> Path:
    path = directory / name
    run_tool("qemu-img", "create", "-q", "-f", driver, *options, str(path), size)
    writes = [
        arg for pattern, at, length in KNOWN_DATA for arg in ("-c", f"write -P {pattern} {at} {length}")
    ]
    run_tool("qemu-io", "-f", driver, *writes, str(path))
    return path


# --- valid files ------------------------------------------------------------------------------------
def vhd_dynamic(directory: Path) -> Path:
    return _create(directory, "dynamic.vhd", "vpc", "-o", "subformat=dynamic")


def vhd_fixed(directory: Path) -> Path:
    return _create(directory, "fixed.vhd", "vpc", "-o", "subformat=fixed")


def vhd_dynamic_exact_size(directory: Path) -> Path:
    """``force_size``: qemu writes creator 'qem2' and the exact size, not the CHS geometry's."""
    return _create(directory, "exact.vhd", "vpc", "-o", "subformat=dynamic,force_size=on", size="10000k")


def vhdx_dynamic(directory: Path) -> Path:
    return _create(directory, "dynamic.vhdx", "vhdx")


def vhdx_fixed(directory: Path) -> Path:
    return _create(directory, "fixed.vhdx", "vhdx", "-o", "subformat=fixed")


def vhdx_small_blocks(directory: Path) -> Path:
    """1 MiB blocks: a sector-bitmap entry every 4096 payload entries, many BAT entries per byte of disk."""
    return _create(directory, "small-blocks.vhdx", "vhdx", "-o", "block_size=1M", size="20M")


def vdi_normal(directory: Path) -> Path:
    return _create(directory, "normal.vdi", "vdi", "-o", "static=off")


def vdi_fixed(directory: Path) -> Path:
    return _create(directory, "fixed.vdi", "vdi", "-o", "static=on")


VALID = {
    "vhd": (vhd_dynamic, vhd_fixed, vhd_dynamic_exact_size),
    "vhdx": (vhdx_dynamic, vhdx_fixed, vhdx_small_blocks),
    "vdi": (vdi_normal, vdi_fixed),
}


# --- checksums, written independently of the inspectors -----------------------------------------
def vhd_sum(block: bytes | bytearray, at: int) -> int:
    return ~(sum(block[:at]) + sum(block[at + 4 :])) & 0xFFFFFFFF


def crc32c_bitwise(data: bytes | bytearray) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _edit(source: Path, name: str, edit: Callable[[bytearray], None]) -> Path:
    data = bytearray(source.read_bytes())
    edit(data)
    path = source.with_name(name)
    path.write_bytes(bytes(data))
    return path


# --- VHD edits ------------------------------------------------------------------------------------
def _set_footer(data: bytearray, at: int, field_at: int, value: bytes) -> None:
    data[at + field_at : at + field_at + len(value)] = value
    footer = data[at : at + 512]
    data[at + 64 : at + 68] = vhd_sum(footer, 64).to_bytes(4, "big")


def _set_both_footers(data: bytearray, field_at: int, value: bytes) -> None:
    for at in (0, len(data) - 512):
        _set_footer(data, at, field_at, value)


def vhd_differencing(directory: Path) -> Path:
    """A dynamic VHD whose footers (both copies, checksums fixed) say disk type 4, differencing."""
    return _edit(vhd_dynamic(directory), "differencing.vhd", lambda d: _set_both_footers(d, 60, b"\0\0\0\4"))


def vhd_fixed_differencing(directory: Path) -> Path:
    """A fixed VHD's only footer, at the end, saying differencing."""
    return _edit(
        vhd_fixed(directory),
        "fixed-differencing.vhd",
        lambda d: _set_footer(d, len(d) - 512, 60, b"\0\0\0\4"),
    )


def vhd_bad_checksum(directory: Path) -> Path:
    def edit(data: bytearray) -> None:
        for at in (0, len(data) - 512):
            data[at + 64] ^= 0xFF

    return _edit(vhd_dynamic(directory), "bad-checksum.vhd", edit)


def vhd_block_outside(directory: Path) -> Path:
    """A dynamic VHD whose first BAT entry (at 1536) points one block past the final footer."""

    def edit(data: bytearray) -> None:
        data[1536:1540] = (len(data) // 512 + 8).to_bytes(4, "big")

    return _edit(vhd_dynamic(directory), "block-outside.vhd", edit)


def vhd_block_over_bat(directory: Path) -> Path:
    """A dynamic VHD whose first BAT entry puts a block on top of the headers (sector 3, the BAT)."""

    def edit(data: bytearray) -> None:
        data[1536:1540] = (3).to_bytes(4, "big")

    return _edit(vhd_dynamic(directory), "block-over-bat.vhd", edit)


def vhd_dynamic_header_outside(directory: Path) -> Path:
    """The footers' data offset points past the end of the file."""
    return _edit(
        vhd_dynamic(directory),
        "header-outside.vhd",
        lambda d: _set_both_footers(d, 16, (1 << 40).to_bytes(8, "big")),
    )


# --- VHDX edits ------------------------------------------------------------------------------------
PARENT_LOCATOR = uuid.UUID("a8d35f2d-b30b-454d-abf7-d3d84834ab0c").bytes_le
METADATA = uuid.UUID("8b7ca206-4790-4b9a-b8fe-575f050f886e").bytes_le
BAT = uuid.UUID("2dc27766-f623-4200-9d64-115e9bfd4a08").bytes_le
FILE_PARAMETERS = uuid.UUID("caa16737-fa36-4d43-b3b6-33f0aa44e76b").bytes_le


def _vhdx_regions(data: bytes | bytearray) -> dict[bytes, tuple[int, int]]:
    count = struct.unpack_from("<I", data, 192 * KiB + 8)[0]
    found = {}
    for index in range(count):
        guid, offset, length, _ = struct.unpack_from("<16sQII", data, 192 * KiB + 16 + 32 * index)
        found[guid] = (offset, length)
    return found


def _fix_crc(data: bytearray, at: int, length: int) -> None:
    data[at + 4 : at + 8] = b"\0\0\0\0"
    data[at + 4 : at + 8] = crc32c_bitwise(data[at : at + length]).to_bytes(4, "little")


def _add_parent_locator(data: bytearray) -> None:
    """Append a parent-locator entry (and a small locator naming a parent path) to the metadata table."""
    table = _vhdx_regions(data)[METADATA][0]
    count = struct.unpack_from("<H", data, table + 10)[0]
    item_at = 512 * KiB  # inside the 1 MiB region, far after qemu's items
    locator = "parent_linkage2".encode("utf-16-le") + "/etc/passwd".encode("utf-16-le")
    struct.pack_into("<16sIIII", data, table + 32 + 32 * count, PARENT_LOCATOR, item_at, len(locator), 6, 0)
    struct.pack_into("<H", data, table + 10, count + 1)
    data[table + item_at : table + item_at + len(locator)] = locator


def vhdx_differencing(directory: Path) -> Path:
    """A dynamic VHDX given a parent-locator metadata entry (the metadata table has no checksum)."""
    return _edit(vhdx_dynamic(directory), "differencing.vhdx", _add_parent_locator)


def vhdx_has_parent(directory: Path) -> Path:
    """A dynamic VHDX whose file parameters set the HasParent flag."""

    def edit(data: bytearray) -> None:
        table = _vhdx_regions(data)[METADATA][0]
        count = struct.unpack_from("<H", data, table + 10)[0]
        for index in range(count):
            guid, offset = struct.unpack_from("<16sI", data, table + 32 + 32 * index)
            if guid == FILE_PARAMETERS:
                data[table + offset + 4] |= 2

    return _edit(vhdx_dynamic(directory), "has-parent.vhdx", edit)


def _current_header(data: bytes | bytearray) -> int:
    sequences = {at: struct.unpack_from("<Q", data, at + 8)[0] for at in (64 * KiB, 128 * KiB)}
    return max(sequences, key=lambda at: sequences[at])


def vhdx_log_to_replay(directory: Path) -> Path:
    """The current header names a log GUID (its CRC-32C fixed): a log qemu-img would have to replay."""

    def edit(data: bytearray) -> None:
        at = _current_header(data)
        data[at + 48 : at + 64] = uuid.UUID("0f0e0d0c-0b0a-0908-0706-050403020100").bytes_le
        _fix_crc(data, at, 4 * KiB)

    return _edit(vhdx_dynamic(directory), "log.vhdx", edit)


def vhdx_overlapping_regions(directory: Path) -> Path:
    """Both region tables (CRC-32C fixed) put the BAT on top of the metadata region."""

    def edit(data: bytearray) -> None:
        metadata_offset = _vhdx_regions(data)[METADATA][0]
        for table in (192 * KiB, 256 * KiB):
            count = struct.unpack_from("<I", data, table + 8)[0]
            for index in range(count):
                entry = table + 16 + 32 * index
                if bytes(data[entry : entry + 16]) == BAT:
                    struct.pack_into("<Q", data, entry + 16, metadata_offset)
            _fix_crc(data, table, 64 * KiB)

    return _edit(vhdx_dynamic(directory), "overlap.vhdx", edit)


def _set_first_bat_entry(data: bytearray, value: int) -> None:
    bat = _vhdx_regions(data)[BAT][0]
    struct.pack_into("<Q", data, bat, value)


def vhdx_block_in_header_area(directory: Path) -> Path:
    """The first BAT entry stores block 0 at offset 64 KiB rounded down: 0, on top of the headers."""
    return _edit(vhdx_dynamic(directory), "block-in-headers.vhdx", lambda d: _set_first_bat_entry(d, 6))


def vhdx_block_outside(directory: Path) -> Path:
    """The first BAT entry stores block 0 at 1 TiB, far past the end of the file."""
    return _edit(
        vhdx_dynamic(directory), "block-outside.vhdx", lambda d: _set_first_bat_entry(d, (1 << 40) | 6)
    )


def vhdx_bad_region_crc(directory: Path) -> Path:
    def edit(data: bytearray) -> None:
        data[192 * KiB + 40] ^= 0x01  # inside the first entry's offset; the CRC left stale

    return _edit(vhdx_dynamic(directory), "bad-crc.vhdx", edit)


# --- VDI edits --------------------------------------------------------------------------------------
def _vdi_image_type(image_type: int, name: str) -> Callable[[Path], Path]:
    def make(directory: Path) -> Path:
        return _edit(vdi_normal(directory), name, lambda d: struct.pack_into("<I", d, 76, image_type))

    return make


vdi_differencing = _vdi_image_type(4, "differencing.vdi")
vdi_undo = _vdi_image_type(3, "undo.vdi")


def vdi_with_parent_uuid(directory: Path) -> Path:
    """A normal VDI whose header names a parent image by UUID."""

    def edit(data: bytearray) -> None:
        data[440:456] = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff").bytes

    return _edit(vdi_normal(directory), "parent-uuid.vdi", edit)


def vdi_block_map_over_data(directory: Path) -> Path:
    """The block map (at 512) is declared to run past the data offset: blocks_in_image grown."""

    def edit(data: bytearray) -> None:
        offset_data = struct.unpack_from("<I", data, 344)[0]
        struct.pack_into("<I", data, 384, (offset_data - 512) // 4 + 1)

    return _edit(vdi_normal(directory), "map-over-data.vdi", edit)


def vdi_block_number_too_large(directory: Path) -> Path:
    """A block-map entry naming block 16 of a 16-block image."""

    def edit(data: bytearray) -> None:
        struct.pack_into("<I", data, 512, struct.unpack_from("<I", data, 384)[0])

    return _edit(vdi_normal(directory), "block-number.vdi", edit)


def vdi_block_outside(directory: Path) -> Path:
    """A normal VDI whose first block-map entry names a block stored past the end of the file."""

    def edit(data: bytearray) -> None:
        blocks = struct.unpack_from("<I", data, 384)[0]
        struct.pack_into("<I", data, 512, blocks - 1)

    return _edit(vdi_normal(directory), "block-outside.vdi", edit)


# Each hostile maker with the format it claims and the reason the inspectors refuse it for.
HOSTILE: dict[Callable[[Path], Path], tuple[str, str]] = {
    vhd_differencing: ("vhd", "vhd_disk_type"),
    vhd_fixed_differencing: ("vhd", "vhd_disk_type"),
    vhd_bad_checksum: ("vhd", "vhd_checksum"),
    vhd_block_over_bat: ("vhd", "vhd_structure"),
    vhd_block_outside: ("vhd", "truncated"),
    vhd_dynamic_header_outside: ("vhd", "truncated"),
    vhdx_differencing: ("vhdx", "vhdx_parent"),
    vhdx_has_parent: ("vhdx", "vhdx_parent"),
    vhdx_log_to_replay: ("vhdx", "vhdx_structure"),
    vhdx_overlapping_regions: ("vhdx", "vhdx_structure"),
    vhdx_block_in_header_area: ("vhdx", "vhdx_structure"),
    vhdx_block_outside: ("vhdx", "truncated"),
    vhdx_bad_region_crc: ("vhdx", "vhdx_structure"),
    vdi_differencing: ("vdi", "vdi_image_type"),
    vdi_undo: ("vdi", "vdi_image_type"),
    vdi_with_parent_uuid: ("vdi", "vdi_image_type"),
    vdi_block_map_over_data: ("vdi", "vdi_structure"),
    vdi_block_number_too_large: ("vdi", "vdi_structure"),
    vdi_block_outside: ("vdi", "truncated"),
}
