"""VHDX (Hyper-V): decide from the bytes alone whether a disk can be converted.

Layout (little-endian, MS-VHDX): the file identifier ``vhdxfile`` at 0; two headers at 64 KiB and
128 KiB (the current one has the higher sequence number; CRC-32C); two region tables at 192 KiB and
256 KiB (CRC-32C) placing the BAT and metadata regions, 1 MiB-aligned, after the first 1 MiB; the
metadata region starts with a table of items (virtual disk size, sector sizes, file parameters, and
for a differencing disk a parent locator naming the parent by path).

Rules (a refusal names the rule and the byte offset):
- a parent locator item, or the file parameters' HasParent flag, is a differencing disk
  (``vhdx_parent``);
- a valid current header (version 1) whose log is empty (a zero log GUID): a log that needs replay
  is refused, since ``qemu-img`` reading the file cannot replay it; the region table and its copy
  valid; exactly one BAT and one metadata region, no unknown region or metadata item marked
  required; regions (and the log) aligned, after the header area, not overlapping, inside the file;
  the metadata items qemu needs present, inside their region, with legal values; the BAT large
  enough for the disk, every entry of a known state, and every stored block after the header area
  and inside the file (``vhdx_structure``);
- the virtual disk size is within the ceiling.

The BAT may come before the metadata in the file (qemu puts it there), so it is read before the
block size is known: its entries are summarised as they pass (the highest block offsets and the
last stored entry) and judged against the metadata at the end.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field

from scp_images.domain.disk_formats import DiskFormat
from scp_images.domain.errors import DiskImageRejected

from ._stream import Step, StreamInspector, past_the_end
from .disk import DiskInfo

KiB, MiB = 1 << 10, 1 << 20
SIGNATURE = b"vhdxfile"
HEADER_OFFSETS = (64 * KiB, 128 * KiB)
HEADER_SIZE = 4 * KiB
HEADER = struct.Struct("<4sIQ16s16s16sHHIQ")
REGION_TABLE_OFFSETS = (192 * KiB, 256 * KiB)
REGION_TABLE_SIZE = 64 * KiB
REGION_TABLE_HEAD = struct.Struct("<4sIII")
REGION_ENTRY = struct.Struct("<16sQII")
METADATA_TABLE_SIZE = 64 * KiB
METADATA_TABLE_HEAD = struct.Struct("<8sHH")
METADATA_ENTRY = struct.Struct("<16sIII4x")
METADATA_ENTRY_AT = 32
MAX_ENTRIES = 2047
HEADER_AREA = 1 * MiB
MAX_VIRTUAL_SIZE = 64 << 40  # the format's (and qemu's) limit


def _guid(text: str) -> bytes:
    return uuid.UUID(text).bytes_le


BAT_REGION = _guid("2dc27766-f623-4200-9d64-115e9bfd4a08")
METADATA_REGION = _guid("8b7ca206-4790-4b9a-b8fe-575f050f886e")
FILE_PARAMETERS = _guid("caa16737-fa36-4d43-b3b6-33f0aa44e76b")
VIRTUAL_DISK_SIZE = _guid("2fa54224-cd1b-4876-b211-5dbed83bf4b8")
PAGE_83_DATA = _guid("beca12ab-b2e6-4523-93ef-c309e000c746")
LOGICAL_SECTOR_SIZE = _guid("8141bf1d-a96f-4709-ba47-f233a8faab5f")
PHYSICAL_SECTOR_SIZE = _guid("cda348c7-445d-4471-9cc9-e9885251c556")
PARENT_LOCATOR = _guid("a8d35f2d-b30b-454d-abf7-d3d84834ab0c")
# The items qemu needs, with the bytes of each it reads.
NEEDED_ITEMS = {
    FILE_PARAMETERS: ("file parameters", 8),
    VIRTUAL_DISK_SIZE: ("virtual disk size", 8),
    PAGE_83_DATA: ("page 83 data", 16),
    LOGICAL_SECTOR_SIZE: ("logical sector size", 4),
    PHYSICAL_SECTOR_SIZE: ("physical sector size", 4),
}
REGION_REQUIRED = 1
ITEM_REQUIRED = 4
HAS_PARENT = 2

# BAT entry states (bits 0-2); the file offset is bits 20-63, in MiB.
NOT_PRESENT, UNDEFINED, ZERO, UNMAPPED, FULLY_PRESENT, PARTIALLY_PRESENT = 0, 1, 2, 3, 6, 7
KNOWN_STATES = frozenset({NOT_PRESENT, UNDEFINED, ZERO, UNMAPPED, FULLY_PRESENT})


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum of VHDX headers and tables; the stdlib has only CRC-32."""
    crc = 0xFFFFFFFF
    table = _CRC32C
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _checksum_ok(block: bytes) -> bool:
    """The checksum at bytes 4-8 of a header or table, computed with those bytes zeroed."""
    stored = int.from_bytes(block[4:8], "little")
    return crc32c(block[:4] + b"\0\0\0\0" + block[8:]) == stored


def _structure(detail: str) -> DiskImageRejected:
    return DiskImageRejected("vhdx_structure", detail)


@dataclass(frozen=True)
class Region:
    name: str
    offset: int
    length: int


@dataclass
class BatSummary:
    """What the BAT says, kept small: the two stored blocks furthest into the file (entry, offset)
    and the last entry that stores a block."""

    furthest: list[tuple[int, int]] = field(default_factory=list)
    last_stored: int = -1

    def note(self, entry: int, offset: int) -> None:
        self.last_stored = max(self.last_stored, entry)
        self.furthest = sorted([*self.furthest, (offset, entry)], reverse=True)[:2]


class VhdxInspector(StreamInspector):
    """Judge a VHDX while it streams past. Memory: the header area's 320 KiB, the 64 KiB metadata table,
    the few bytes of each metadata item, one 64 KiB piece of the BAT at a time. The header area and
    the metadata are judged by the ``feed`` that completes them; sizes against the file by ``finish``."""

    def __init__(self, *, max_virtual_size: int) -> None:
        super().__init__()
        self._max_virtual_size = max_virtual_size
        self._regions: list[Region] = []
        self._bat: Region | None = None
        self._metadata: Region | None = None
        self._items: dict[bytes, bytes] = {}
        self._summary = BatSummary()
        self._virtual_size = 0
        self._block_size = 0
        self._entries = 0  # BAT entries the disk uses
        self._chunk_ratio = 0
        self._reader.want(0, len(SIGNATURE), "the VHDX file identifier", self._on_identifier)

    def finish(self) -> DiskInfo:
        """Call once the stream has ended; returns the disk's info or raises ``DiskImageRejected``."""
        self._raise_if_failed()
        info = self._judge(self._finish)
        assert isinstance(info, DiskInfo)
        return info

    def _on_identifier(self, data: bytes) -> None:
        if data != SIGNATURE:
            raise DiskImageRejected("unknown_format", "no VHDX file identifier 'vhdxfile' at offset 0")
        end = REGION_TABLE_OFFSETS[1] + REGION_TABLE_SIZE
        self._reader.want(
            HEADER_OFFSETS[0], end - HEADER_OFFSETS[0], "the VHDX headers and region tables", self._on_headers
        )

    # --- headers and region tables ---------------------------------------------------------------
    def _on_headers(self, area: bytes) -> None:
        def at(offset: int, length: int) -> bytes:
            start = offset - HEADER_OFFSETS[0]
            return area[start : start + length]

        header_at = self._current_header([at(offset, HEADER_SIZE) for offset in HEADER_OFFSETS])
        header = at(header_at, HEADER_SIZE)
        _, _, _, _, _, log_guid, _, version, log_length, log_offset = HEADER.unpack_from(header)
        if version != 1:
            raise _structure(f"the current header at offset {header_at} gives version {version}, not 1")
        if any(log_guid):
            detail = f"the current header at offset {header_at} has a log to replay (log GUID"
            raise _structure(f"{detail} {uuid.UUID(bytes_le=log_guid)}): the disk was not closed cleanly")
        if log_length:
            self._regions.append(self._region("log", log_offset, log_length, header_at + 68))
        tables = [at(offset, REGION_TABLE_SIZE) for offset in REGION_TABLE_OFFSETS]
        for table, offset in zip(tables, REGION_TABLE_OFFSETS, strict=True):
            if table[:4] != b"regi" or not _checksum_ok(table):
                raise _structure(
                    f"the region table at offset {offset} has a wrong signature or CRC-32C checksum"
                )
        self._read_region_table(tables[0])
        assert self._bat is not None and self._metadata is not None
        self._reader.want(
            self._metadata.offset, METADATA_TABLE_SIZE, "the VHDX metadata table", self._on_metadata_table
        )
        self._reader.want_pieces(self._bat.offset, self._bat.length, "the VHDX BAT", self._on_bat)

    @staticmethod
    def _current_header(headers: list[bytes]) -> int:
        valid = {}
        for header, offset in zip(headers, HEADER_OFFSETS, strict=True):
            if header[:4] == b"head" and _checksum_ok(header):
                valid[offset] = int.from_bytes(header[8:16], "little")
        if not valid:
            raise _structure(
                "neither header (at offsets 65536 and 131072) has the signature 'head' and a valid CRC-32C"
            )
        if (
            len(valid) == 2
            and valid[HEADER_OFFSETS[0]] == valid[HEADER_OFFSETS[1]]
            and headers[0] != headers[1]
        ):
            raise _structure(
                "the two headers (at offsets 65536 and 131072) differ but have the same sequence number"
            )
        return max(valid, key=lambda offset: (valid[offset], -offset))

    def _read_region_table(self, table: bytes) -> None:
        at = REGION_TABLE_OFFSETS[0]
        count = REGION_TABLE_HEAD.unpack_from(table)[2]
        if count > MAX_ENTRIES:
            raise _structure(f"the region table at offset {at} has {count} entries (at most {MAX_ENTRIES})")
        for index in range(count):
            entry_at = REGION_TABLE_HEAD.size + index * REGION_ENTRY.size
            guid, offset, length, flags = REGION_ENTRY.unpack_from(table, entry_at)
            where = at + entry_at
            if guid in (BAT_REGION, METADATA_REGION):
                name = "BAT" if guid == BAT_REGION else "metadata"
                if (self._bat if guid == BAT_REGION else self._metadata) is not None:
                    raise _structure(f"the region table entry at offset {where} is a second {name} region")
                region = self._region(name, offset, length, where)
                if guid == BAT_REGION:
                    self._bat = region
                else:
                    self._metadata = region
                self._regions.append(region)
            elif flags & REGION_REQUIRED:
                unknown = uuid.UUID(bytes_le=guid)
                raise _structure(
                    f"the region entry at offset {where} is an unknown region ({unknown}) marked required"
                )
        for name, found in (("BAT", self._bat), ("metadata", self._metadata)):
            if found is None:
                raise _structure(f"the region table at offset {at} has no {name} region")
        if self._metadata is not None and self._metadata.length < METADATA_TABLE_SIZE:
            raise _structure(
                f"the metadata region at offset {self._metadata.offset} is smaller than its 64 KiB table"
            )

    def _region(self, name: str, offset: int, length: int, where: int) -> Region:
        if offset % MiB or length % MiB or offset < HEADER_AREA or not length or offset + length >= 1 << 63:
            detail = f"the {name} region at offset {offset} ({length} bytes, entry at offset {where})"
            raise _structure(f"{detail} is not 1 MiB-aligned after the first 1 MiB")
        region = Region(name, offset, length)
        for other in self._regions:
            if offset < other.offset + other.length and other.offset < offset + length:
                detail = f"the {name} region at offset {offset} overlaps the {other.name} region"
                raise _structure(f"{detail} at offset {other.offset}")
        return region

    # --- metadata ------------------------------------------------------------------------------------
    def _on_metadata_table(self, table: bytes) -> None:
        assert self._metadata is not None
        base = self._metadata.offset
        signature, _, count = METADATA_TABLE_HEAD.unpack_from(table)
        if signature != b"metadata":
            raise _structure(f"no metadata table signature 'metadata' at offset {base}")
        if count > MAX_ENTRIES:
            raise _structure(
                f"the metadata table at offset {base} has {count} entries (at most {MAX_ENTRIES})"
            )
        wanted: dict[bytes, int] = {}  # item -> its offset in the file
        for index in range(count):
            entry_at = METADATA_ENTRY_AT + index * METADATA_ENTRY.size
            self._read_metadata_entry(METADATA_ENTRY.unpack_from(table, entry_at), base + entry_at, wanted)
        missing = [name for guid, (name, _) in NEEDED_ITEMS.items() if guid not in wanted]
        if missing:
            raise _structure(f"the metadata table at offset {base} has no {', '.join(missing)} item")
        for guid, offset in wanted.items():
            name, needed = NEEDED_ITEMS[guid]
            self._reader.want(offset, needed, f"the {name} metadata item", self._item_step(guid))

    def _read_metadata_entry(
        self, entry: tuple[bytes, int, int, int], where: int, wanted: dict[bytes, int]
    ) -> None:
        assert self._metadata is not None
        guid, offset, length, flags = entry
        if guid == PARENT_LOCATOR:
            raise DiskImageRejected(
                "vhdx_parent", f"the metadata entry at offset {where} is a parent locator"
            )
        if length and (offset < METADATA_TABLE_SIZE or offset + length > self._metadata.length):
            detail = f"the item of the metadata entry at offset {where} ({offset}, {length} bytes)"
            raise _structure(f"{detail} does not lie in its region after the table")
        if guid in NEEDED_ITEMS:
            name, needed = NEEDED_ITEMS[guid]
            if guid in wanted:
                raise _structure(f"the metadata entry at offset {where} repeats the {name} item")
            if length < needed:
                raise _structure(f"the {name} item of the metadata entry at offset {where} is {length} bytes")
            wanted[guid] = self._metadata.offset + offset
        elif flags & ITEM_REQUIRED:
            unknown = uuid.UUID(bytes_le=guid)
            raise _structure(
                f"the metadata entry at offset {where} is an unknown item ({unknown}) marked required"
            )

    def _item_step(self, guid: bytes) -> Step:
        def step(value: bytes) -> None:
            self._items[guid] = value
            if len(self._items) == len(NEEDED_ITEMS):
                self._judge_metadata()

        return step

    def _judge_metadata(self) -> None:
        assert self._metadata is not None and self._bat is not None
        base = self._metadata.offset
        block_size, flags = struct.unpack("<II", self._items[FILE_PARAMETERS])
        if flags & HAS_PARENT:
            raise DiskImageRejected(
                "vhdx_parent", f"the file parameters in the metadata region at offset {base} set HasParent"
            )
        if not MiB <= block_size <= 256 * MiB or block_size & (block_size - 1):
            detail = f"the block size {block_size} (metadata region at offset {base})"
            raise _structure(f"{detail} is not a power of two from 1 to 256 MiB")
        logical = int.from_bytes(self._items[LOGICAL_SECTOR_SIZE], "little")
        physical = int.from_bytes(self._items[PHYSICAL_SECTOR_SIZE], "little")
        if logical not in (512, 4096) or physical not in (512, 4096):
            detail = f"the sector sizes {logical} and {physical} (metadata region at offset {base})"
            raise _structure(f"{detail} are not 512 or 4096")
        size = int.from_bytes(self._items[VIRTUAL_DISK_SIZE], "little")
        if size > self._max_virtual_size:
            detail = f"the virtual disk size in the metadata region at offset {base} is {size} bytes"
            raise DiskImageRejected(
                "virtual_size_too_large", f"{detail}, above the limit of {self._max_virtual_size}"
            )
        if not size or size % logical or size > MAX_VIRTUAL_SIZE:
            raise _structure(
                f"the virtual disk size {size} (metadata region at offset {base}) is not a legal VHDX size"
            )
        self._virtual_size, self._block_size = size, block_size
        self._chunk_ratio = (1 << 23) * logical // block_size
        blocks = -(-size // block_size)
        self._entries = blocks + (blocks - 1) // self._chunk_ratio
        if self._entries * 8 > self._bat.length:
            detail = f"the BAT region at offset {self._bat.offset} holds {self._bat.length // 8} entries"
            raise _structure(f"{detail}, fewer than the {self._entries} the disk needs")

    # --- BAT -------------------------------------------------------------------------------------------
    def _on_bat(self, offset: int, piece: bytes) -> None:
        assert self._bat is not None
        first = (offset - self._bat.offset) // 8
        values = struct.unpack(f"<{len(piece) // 8}Q", piece)
        # Most pieces store no block (a sparse disk): judge their distinct values only, at C speed.
        if all(value & 7 in (NOT_PRESENT, UNDEFINED, ZERO, UNMAPPED) for value in set(values)):
            return
        for index, value in enumerate(values, first):
            if not value:
                continue
            state = value & 7
            if state not in KNOWN_STATES:
                where = f"the BAT entry at offset {self._bat.offset + index * 8}"
                kind = (
                    "partially present (a differencing disk's)" if state == PARTIALLY_PRESENT else "unknown"
                )
                raise _structure(f"{where} has state {state}, {kind}")
            if state == FULLY_PRESENT:
                block = value >> 20 << 20
                if block < HEADER_AREA:
                    where = f"the BAT entry at offset {self._bat.offset + index * 8}"
                    raise _structure(f"{where} puts a block at offset {block}, in the header area")
                self._summary.note(index, block)

    def _finish(self) -> DiskInfo:
        self._reader.check_complete()
        size = self.size
        for region in self._regions:
            if region.offset + region.length > size:
                where = f"the {region.name} region at offset {region.offset} ({region.length} bytes)"
                raise DiskImageRejected("truncated", past_the_end(where, size))
        summary = self._summary
        if summary.last_stored >= self._entries:
            assert self._bat is not None
            where = f"the BAT entry at offset {self._bat.offset + summary.last_stored * 8}"
            raise _structure(f"{where} stores a block, but the disk uses only {self._entries} entries")
        for block, entry in summary.furthest:
            end = block + self._stored_length(entry)
            if end > size:
                where = f"the block at offset {block} (BAT entry {entry})"
                raise DiskImageRejected("truncated", past_the_end(where, size))
        return DiskInfo(DiskFormat.VHDX, self._virtual_size)

    def _stored_length(self, entry: int) -> int:
        """A payload block's bytes in the file; the disk's last block may stop at the disk's end."""
        ratio = self._chunk_ratio
        if (entry + 1) % (ratio + 1) == 0:
            return MiB  # a sector bitmap block
        payload = entry - entry // (ratio + 1)
        return min(self._block_size, self._virtual_size - payload * self._block_size)
