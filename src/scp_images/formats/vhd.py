"""VHD (Virtual PC, qemu's ``vpc`` driver): decide from the bytes alone whether a disk can be converted.

A VHD ends with a 512-byte footer (cookie ``conectix``, big-endian fields, a ones'-complement
checksum). A dynamic disk also has a copy of it at offset 0, a dynamic header (``cxsparse``) at the
footer's data offset and a block allocation table (BAT) that header names; a fixed disk is its data
followed by the footer, with no leading signature, so it is judged when the stream ends.

Rules (a refusal names the rule and the byte offset):
- the footer's checksum is valid (``vhd_checksum``); the dynamic header's too;
- the disk type is 2 (fixed) or 3 (dynamic); 4 (differencing: it names a parent file by path)
  and anything else is refused (``vhd_disk_type``);
- a dynamic disk: the footer copy at offset 0 and the one at the end are the same bytes; the
  dynamic header and the BAT lie after that copy, in the file; every allocated block lies after
  the BAT and before the final footer (``vhd_structure``);
- a fixed disk: its footer is only at the end, and the size it records is the data before it;
- the virtual size, computed as qemu computes it (``virtual_size``), is within the ceiling.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from scp_images.domain.disk_formats import DiskFormat
from scp_images.domain.errors import DiskImageRejected

from ._stream import StreamInspector, past_the_end
from .disk import DiskInfo

COOKIE = b"conectix"
FOOTER_SIZE = 512
FOOTER = struct.Struct(">8sIIQI4sIIQQHBBII")
FOOTER_CHECKSUM_AT = 64
DYNAMIC_COOKIE = b"cxsparse"
DYNAMIC_HEADER_SIZE = 1024
DYNAMIC_HEADER = struct.Struct(">8sQQIIII")
DYNAMIC_CHECKSUM_AT = 36
SECTOR = 512
UNALLOCATED = 0xFFFFFFFF

FIXED, DYNAMIC, DIFFERENCING = 2, 3, 4
DISK_TYPES = {0: "none", 1: "reserved (deprecated)", 2: "fixed", 3: "dynamic", 4: "differencing"}

# qemu's rules for the size it shows (block/vpc.c): the CHS geometry, except for the creators that
# write the exact size (Hyper-V, qemu with force_size, disk2vhd, XenServer, XenConverter) and for a
# geometry at its maximum, where the footer's current size is used.
EXACT_SIZE_CREATORS = (b"win ", b"qem2", b"d2v ", b"CTXS", b"tap\0")
MAX_GEOMETRY_SECTORS = 65535 * 16 * 255
MAX_SECTORS = 0xFF000000  # qemu refuses anything larger (2040 GiB)


@dataclass(frozen=True)
class VhdFooter:
    data_offset: int
    creator_app: bytes
    current_size: int
    cylinders: int
    heads: int
    sectors_per_track: int
    disk_type: int

    @property
    def virtual_size(self) -> int:
        sectors = self.cylinders * self.heads * self.sectors_per_track
        if self.creator_app in EXACT_SIZE_CREATORS or sectors == MAX_GEOMETRY_SECTORS:
            sectors = self.current_size // SECTOR
        return sectors * SECTOR


def vhd_checksum(data: bytes, checksum_at: int) -> int:
    """The ones' complement of the byte sum, the checksum field itself left out."""
    total = sum(data) - sum(data[checksum_at : checksum_at + 4])
    return ~total & 0xFFFFFFFF


def _footer_checksum_ok(footer: bytes) -> bool:
    stored = int.from_bytes(footer[FOOTER_CHECKSUM_AT : FOOTER_CHECKSUM_AT + 4], "big")
    return vhd_checksum(footer, FOOTER_CHECKSUM_AT) == stored


def has_vhd_footer(tail: bytes) -> bool:
    """Whether the last 512 bytes of ``tail`` are a VHD footer: its cookie and a valid checksum.

    For a format detector: a fixed VHD has no leading signature, only this footer at the end."""
    footer = bytes(tail[-FOOTER_SIZE:])
    return len(footer) == FOOTER_SIZE and footer.startswith(COOKIE) and _footer_checksum_ok(footer)


def parse_footer(footer: bytes, offset: int) -> VhdFooter:
    """Judge a 512-byte footer found at ``offset``: cookie, checksum, then disk type."""
    if not footer.startswith(COOKIE):
        raise DiskImageRejected("vhd_structure", f"no VHD footer cookie 'conectix' at offset {offset}")
    if not _footer_checksum_ok(footer):
        stored = int.from_bytes(footer[FOOTER_CHECKSUM_AT : FOOTER_CHECKSUM_AT + 4], "big")
        detail = f"the footer at offset {offset} has checksum {stored:#010x}, but its bytes sum to"
        raise DiskImageRejected("vhd_checksum", f"{detail} {vhd_checksum(footer, FOOTER_CHECKSUM_AT):#010x}")
    fields = FOOTER.unpack_from(footer)
    parsed = VhdFooter(
        data_offset=fields[3],
        creator_app=fields[5],
        current_size=fields[9],
        cylinders=fields[10],
        heads=fields[11],
        sectors_per_track=fields[12],
        disk_type=fields[13],
    )
    if parsed.disk_type not in (FIXED, DYNAMIC):
        name = DISK_TYPES.get(parsed.disk_type, "unknown")
        why = ": it names a parent disk by path" if parsed.disk_type == DIFFERENCING else ""
        detail = f"the footer at offset {offset} gives disk type {parsed.disk_type} ({name}){why}"
        raise DiskImageRejected(
            "vhd_disk_type", f"{detail}; only fixed (2) and dynamic (3) disks are accepted"
        )
    return parsed


def _structure(detail: str) -> DiskImageRejected:
    return DiskImageRejected("vhd_structure", detail)


def _check_virtual_size(footer: VhdFooter, offset: int, max_virtual_size: int) -> None:
    size = footer.virtual_size
    if size > MAX_SECTORS * SECTOR:
        raise _structure(
            f"the footer at offset {offset} gives a virtual size of {size} bytes, above VHD's 2040 GiB"
        )
    if size > max_virtual_size:
        detail = f"the footer at offset {offset} gives a virtual size of {size} bytes"
        raise DiskImageRejected(
            "virtual_size_too_large", f"{detail}, above the limit of {max_virtual_size} bytes"
        )


class VhdInspector(StreamInspector):
    """Judge a VHD while it streams past. Memory: the first 512 bytes, the 1024-byte dynamic header,
    one 64 KiB piece of the BAT at a time, and the last 512 bytes.

    A dynamic disk's footer copy and dynamic header are judged by the ``feed`` that completes them;
    a fixed disk, and everything that needs the file's size, by ``finish``."""

    TAIL = FOOTER_SIZE

    def __init__(self, *, max_virtual_size: int) -> None:
        super().__init__()
        self._max_virtual_size = max_virtual_size
        self._head: bytes | None = None
        self._footer: VhdFooter | None = None  # a dynamic disk's, from offset 0
        self._block_bytes = 0  # a dynamic block on disk: its sector bitmap and its data
        self._bat_end = 0
        self._highest_block: int | None = None  # the sector number of the last block in the file
        self._reader.want(0, FOOTER_SIZE, "the VHD footer copy", self._on_head)

    def finish(self) -> DiskInfo:
        """Call once the stream has ended; returns the disk's info or raises ``DiskImageRejected``."""
        self._raise_if_failed()
        info = self._judge(self._finish)
        assert isinstance(info, DiskInfo)
        return info

    def _on_head(self, head: bytes) -> None:
        self._head = head
        if not head.startswith(COOKIE):
            return  # a fixed disk, or not a VHD: judged from the tail at the end
        footer = parse_footer(head, 0)
        if footer.disk_type == FIXED:
            raise _structure(
                "the footer at offset 0 says fixed, but a fixed disk has its footer only at the end"
            )
        _check_virtual_size(footer, 0, self._max_virtual_size)
        start = footer.data_offset
        if not FOOTER_SIZE <= start < 1 << 63:
            raise _structure(
                f"the dynamic header offset {start} in the footer at offset 0 does not lie after that footer"
            )
        self._footer = footer
        self._reader.want(start, DYNAMIC_HEADER_SIZE, "the VHD dynamic header", self._on_dynamic_header)

    def _on_dynamic_header(self, header: bytes) -> None:
        assert self._footer is not None
        at = self._footer.data_offset
        magic, _, table_offset, _, entries, block_size, stored = DYNAMIC_HEADER.unpack_from(header)
        if magic != DYNAMIC_COOKIE:
            raise _structure(f"no dynamic header cookie 'cxsparse' at offset {at}")
        if vhd_checksum(header, DYNAMIC_CHECKSUM_AT) != stored:
            raise DiskImageRejected("vhd_checksum", f"the dynamic header at offset {at} has a wrong checksum")
        if block_size < SECTOR or block_size & (block_size - 1):
            raise _structure(
                f"the dynamic header at offset {at} gives block size {block_size}: not a power of two >= 512"
            )
        virtual_size = self._footer.virtual_size
        if entries * block_size < virtual_size:
            detail = (
                f"the BAT of the dynamic header at offset {at} has {entries} entries of {block_size} bytes"
            )
            raise _structure(f"{detail}, too few for the virtual size of {virtual_size} bytes")
        if entries > MAX_SECTORS * SECTOR // block_size:
            raise _structure(
                f"the dynamic header at offset {at} gives {entries} BAT entries, more than VHD allows"
            )
        if not self._reader.ahead(table_offset):
            detail = (
                f"the BAT at offset {table_offset} lies before the end of the dynamic header at offset {at}"
            )
            raise _structure(f"{detail} (it would overlap the headers)")
        bitmap = (block_size // (8 * SECTOR) + SECTOR - 1) // SECTOR * SECTOR
        self._block_bytes = bitmap + block_size
        self._bat_end = table_offset + entries * 4
        if entries:
            self._reader.want_pieces(
                table_offset, entries * 4, "the VHD block allocation table", self._on_bat
            )

    def _on_bat(self, offset: int, piece: bytes) -> None:
        allocated = set(struct.unpack(f">{len(piece) // 4}I", piece))
        allocated.discard(UNALLOCATED)
        if not allocated:
            return
        low, high = min(allocated), max(allocated)
        if low * SECTOR < self._bat_end:
            detail = f"a BAT entry in the piece at offset {offset} puts a block at offset {low * SECTOR}"
            raise _structure(f"{detail}, before the end of the BAT at offset {self._bat_end}")
        if self._highest_block is None or high > self._highest_block:
            self._highest_block = high

    def _finish(self) -> DiskInfo:
        size = self.size
        if self._head is None or not self._head.startswith(COOKIE):
            return self._finish_fixed(size)
        self._reader.check_complete()
        assert self._footer is not None
        end = size - FOOTER_SIZE
        if not self._tail.startswith(COOKIE):
            raise DiskImageRejected(
                "truncated", f"the data ends after {size} bytes without the VHD footer copy"
            )
        if self._tail != self._head:
            raise _structure(f"the footer at offset {end} differs from its copy at offset 0")
        if self._highest_block is not None:
            block_end = self._highest_block * SECTOR + self._block_bytes
            if block_end > end:
                where = f"the block at offset {self._highest_block * SECTOR} ({self._block_bytes} bytes)"
                raise DiskImageRejected(
                    "truncated", past_the_end(f"{where}, before the footer at {end}", end)
                )
        return DiskInfo(DiskFormat.VHD, self._footer.virtual_size)

    def _finish_fixed(self, size: int) -> DiskInfo:
        if size < FOOTER_SIZE:
            if size == 0:
                raise DiskImageRejected("truncated", "the data is empty")
            raise DiskImageRejected(
                "truncated", f"the data ends after {size} bytes, before a 512-byte VHD footer"
            )
        end = size - FOOTER_SIZE
        if not self._tail.startswith(COOKIE):
            detail = f"no VHD footer cookie 'conectix' at offset 0 nor at offset {end} (the last 512 bytes)"
            raise DiskImageRejected("unknown_format", detail)
        footer = parse_footer(self._tail, end)
        if footer.disk_type == DYNAMIC:
            raise _structure(
                f"the footer at offset {end} says dynamic, but there is no footer copy at offset 0"
            )
        _check_virtual_size(footer, end, self._max_virtual_size)
        if footer.current_size != end:
            detail = f"the fixed disk's footer at offset {end} gives a size of {footer.current_size} bytes"
            raise _structure(f"{detail}, but {end} bytes of data precede it")
        if footer.virtual_size > end:
            detail = f"the geometry in the footer at offset {end} gives {footer.virtual_size} bytes"
            raise _structure(f"{detail}, more than the {end} bytes of data")
        return DiskInfo(DiskFormat.VHD, footer.virtual_size)
