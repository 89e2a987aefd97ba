"""The VMDK sparse header and embedded descriptor, and the rules they must pass.

What qemu does with a file starting with ``KDMV`` (block/vmdk.c), and so what matters:

- A header whose ``capacity`` is 0 makes qemu read the embedded descriptor as a descriptor *file* and
  open every extent it names: the CVE-2022-47951 path. Refused.
- Otherwise qemu reads the data from this file only, through the grain directory (GD) and tables (GT),
  and looks into the 10 KiB at offset 512 for ``parentFileNameHint`` (anywhere, as a substring): a hint
  opens that file as the backing file. Refused anywhere in the descriptor.
- When ``gd_offset`` is ``GD_AT_END`` (streamOptimized written by VMware), qemu reads a footer from the
  last 1536 bytes and uses *its* header fields instead: the footer must agree with the header.

The descriptor is read at sector 1, the only place qemu reads it, up to its first NUL, which must lie
inside the ``desc_size`` sectors: then our text is exactly what qemu sees.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from scp_images.domain.errors import DiskImageRejected

from ._signatures import quote_name

SECTOR = 512
MAGIC = b"KDMV"
HEADER = struct.Struct("<4sIIQQQQIQQQ5sH")  # up to compressAlgorithm, 79 bytes of the 512-byte sector
GD_AT_END = 0xFFFFFFFFFFFFFFFF

FLAG_NL_DETECT = 1 << 0
FLAG_RGD = 1 << 1
FLAG_ZERO_GRAIN = 1 << 2
FLAG_COMPRESSED = 1 << 16
FLAG_MARKERS = 1 << 17
KNOWN_FLAGS = FLAG_NL_DETECT | FLAG_RGD | FLAG_ZERO_GRAIN | FLAG_COMPRESSED | FLAG_MARKERS
DEFLATE = 1

MIN_GRAIN_SECTORS, MAX_GRAIN_SECTORS = 8, 2048  # 4 KiB (the spec's minimum) to 1 MiB
MAX_GTES_PER_GT = 512  # qemu's limit, and what every writer uses
MAX_GD_ENTRIES = 2 << 20  # 8 MiB of GD: 64 TiB with 64 KiB grains; qemu's own cap is 32 Mi entries
DESCRIPTOR_SECTOR = 1
MAX_DESCRIPTOR_BYTES = 1 << 20  # qemu never reads more than 1 MiB of descriptor

CREATE_TYPES = ("monolithicSparse", "streamOptimized")
NO_PARENT_CID = "ffffffff"

MARKER_EOS, MARKER_GT, MARKER_GD, MARKER_FOOTER = 0, 1, 2, 3
MARKER = struct.Struct("<QII")  # value, size (a grain's compressed length, 0 for metadata), type


@dataclass(frozen=True, slots=True)
class SparseHeader:
    version: int
    flags: int
    capacity: int  # sectors
    grain_size: int  # sectors
    desc_offset: int
    desc_size: int
    num_gtes_per_gt: int
    rgd_offset: int
    gd_offset: int
    overhead: int  # sectors before the first grain (qemu's grain_offset)
    compress_algorithm: int

    @property
    def virtual_size(self) -> int:
        return self.capacity * SECTOR

    @property
    def gd_entries(self) -> int:
        covered = self.num_gtes_per_gt * self.grain_size
        return (self.capacity + covered - 1) // covered

    @property
    def gt_bytes(self) -> int:
        return self.num_gtes_per_gt * 4

    @property
    def stream_optimized(self) -> bool:
        return self.compress_algorithm == DEFLATE

    def same_layout(self, other: SparseHeader) -> bool:
        """Equal in every field but where the grain directory is."""
        fields = (
            "version", "flags", "capacity", "grain_size", "desc_offset", "desc_size", "num_gtes_per_gt",
            "rgd_offset", "overhead", "compress_algorithm",
        )  # fmt: skip
        return all(getattr(self, name) == getattr(other, name) for name in fields)


def header_error(detail: str) -> DiskImageRejected:
    return DiskImageRejected("vmdk_header", detail)


def outside_error(detail: str) -> DiskImageRejected:
    return DiskImageRejected("vmdk_outside_file", detail)


def refuse_foreign_start(data: bytes) -> None:
    """Say what a stream that does not start with ``KDMV`` is (``data`` is at most 512 bytes)."""
    if data.startswith(MAGIC[: len(data)]) and len(data) < len(MAGIC):
        return
    if data.startswith(MAGIC):
        return
    text = data.lstrip(b" \t\r\n")
    if text.startswith((b"#", b"version=")) or b"createType" in data:
        raise DiskImageRejected(
            "vmdk_descriptor_only",
            "the file at offset 0 is a VMDK text descriptor: its data lives in the other files it names",
        )
    if data.startswith(b"COWD"):
        raise header_error("the file at offset 0 is a VMDK version 3 (COWD, ESX) sparse extent, not accepted")
    if not data:
        raise DiskImageRejected("truncated", "the data is empty")
    shown = data[:8].hex(" ")
    raise header_error(
        f"the data does not start with the VMDK magic 'KDMV' at offset 0 (it starts with {shown})"
    )


def parse_header(sector: bytes) -> SparseHeader:
    """``sector`` holds at least ``HEADER.size`` bytes starting with the magic."""
    values = HEADER.unpack_from(sector)
    (_, version, flags, capacity, grain, desc_offset, desc_size, gtes, rgd, gd, overhead, _, compress) = (
        values
    )
    return SparseHeader(
        version, flags, capacity, grain, desc_offset, desc_size, gtes, rgd, gd, overhead, compress
    )


def check_header(h: SparseHeader, max_virtual_size: int) -> None:
    if not 1 <= h.version <= 3:
        raise header_error(f"the header at offset 0 has version {h.version} (only 1 to 3 exist)")
    unknown = h.flags & ~KNOWN_FLAGS
    if unknown:
        raise header_error(f"the header at offset 8 sets flag bits this service does not know ({unknown:#x})")
    if h.capacity == 0:
        raise header_error(
            "the header at offset 12 has capacity 0: qemu would open the descriptor's extents as other files"
        )
    if h.virtual_size > max_virtual_size:
        raise DiskImageRejected(
            "virtual_size_too_large",
            f"the virtual size of {h.virtual_size} bytes (header offset 12) exceeds the limit of "
            f"{max_virtual_size} bytes",
        )
    _check_grains(h)
    _check_descriptor_area(h)
    _check_compression(h)


def _check_grains(h: SparseHeader) -> None:
    g = h.grain_size
    if not MIN_GRAIN_SECTORS <= g <= MAX_GRAIN_SECTORS or g & (g - 1):
        raise header_error(
            f"the grain size at offset 20 is {g} sectors (a power of two from {MIN_GRAIN_SECTORS} "
            f"to {MAX_GRAIN_SECTORS})"
        )
    if not 1 <= h.num_gtes_per_gt <= MAX_GTES_PER_GT:
        raise header_error(
            f"the header at offset 44 gives {h.num_gtes_per_gt} entries per grain table "
            f"(1 to {MAX_GTES_PER_GT})"
        )
    if h.gd_entries > MAX_GD_ENTRIES:
        raise header_error(
            f"the grain directory would need {h.gd_entries} entries (at most {MAX_GD_ENTRIES})"
        )


def _check_descriptor_area(h: SparseHeader) -> None:
    if h.desc_offset != DESCRIPTOR_SECTOR:
        raise header_error(
            f"the descriptor offset at offset 28 is sector {h.desc_offset}; it must be sector 1, where qemu "
            "reads it"
        )
    if not 1 <= h.desc_size <= MAX_DESCRIPTOR_BYTES // SECTOR:
        raise header_error(
            f"the descriptor size at offset 36 is {h.desc_size} sectors "
            f"(1 to {MAX_DESCRIPTOR_BYTES // SECTOR})"
        )
    if h.overhead < descriptor_end(h) // SECTOR:
        raise header_error(
            f"the first grain at sector {h.overhead} (header offset 64) lies inside the descriptor, "
            f"which ends at offset {descriptor_end(h)}"
        )


def _check_compression(h: SparseHeader) -> None:
    if h.compress_algorithm not in (0, DEFLATE):
        raise header_error(
            f"the compression algorithm at offset 77 is {h.compress_algorithm} (0 or 1, deflate)"
        )
    stream = h.stream_optimized
    for flag, name in ((FLAG_COMPRESSED, "compressed-grains"), (FLAG_MARKERS, "markers")):
        if bool(h.flags & flag) != stream:
            state = "set" if h.flags & flag else "clear"
            kind = "compressed" if stream else "uncompressed"
            raise header_error(f"the {name} flag at offset 8 is {state} in a {kind} header")
    if h.gd_offset == GD_AT_END:
        if not stream:
            raise header_error(
                "the header at offset 56 puts the grain directory at the end, in a monolithicSparse"
            )
        if h.flags & FLAG_RGD and h.rgd_offset:  # qemu ignores the flag when the offset is 0
            raise header_error(
                f"the header names a redundant grain directory at sector {h.rgd_offset} (offset 48)"
                " while its grain directory is at the end"
            )


def descriptor_end(h: SparseHeader) -> int:
    return (h.desc_offset + h.desc_size) * SECTOR


def directory_regions(h: SparseHeader) -> list[tuple[int, str]]:
    """(offset, name) of the grain directories in the header area, in file order."""
    regions = []
    if h.gd_offset != GD_AT_END:
        regions.append((h.gd_offset * SECTOR, "grain directory"))
    if h.flags & FLAG_RGD and h.rgd_offset:
        regions.append((h.rgd_offset * SECTOR, "redundant grain directory"))
    regions.sort()
    area_start, area_end = descriptor_end(h), h.overhead * SECTOR
    length = h.gd_entries * 4
    previous_end = area_start
    for offset, name in regions:
        if offset < previous_end or offset + length > area_end:
            raise header_error(
                f"the {name} at offset {offset} ({length} bytes) is not inside the metadata area "
                f"{area_start}..{area_end} after the descriptor, apart from the other directory"
            )
        previous_end = offset + length
    return regions


# --- the descriptor -------------------------------------------------------------------------------

_PROTOCOL = re.compile(rb"^[A-Za-z][A-Za-z0-9+.\-]*:")
_KEY_VALUE = re.compile(rb"^([A-Za-z][A-Za-z0-9._]*)\s*=\s*(.*)$")
_EXTENT = re.compile(rb'^(\S+)\s+(\S+)\s+(\S+)(?:\s+"([^"]*)")?(?:\s+(\S+))?$')
_ACCESS = (b"RW", b"RDONLY", b"NOACCESS")


@dataclass(frozen=True, slots=True)
class Descriptor:
    create_type: str
    extent_sectors: int


def descriptor_text(area: bytes, h: SparseHeader) -> bytes:
    """The descriptor up to its NUL, which must lie within its ``desc_size`` sectors."""
    end = area.find(b"\0")
    if end < 0:
        raise header_error(
            f"the descriptor at offset {h.desc_offset * SECTOR} does not end (NUL) within its "
            f"{h.desc_size} sectors"
        )
    return area[:end]


def parse_descriptor(text: bytes, base: int) -> Descriptor:
    """Judge the descriptor text found at file offset ``base``."""
    _check_no_protocols(text, base)
    hint = text.lower().find(b"parentfilenamehint")
    if hint >= 0:
        raise DiskImageRejected(
            "vmdk_parent", f"the descriptor names a parent disk (parentFileNameHint at offset {base + hint})"
        )
    values: dict[bytes, tuple[bytes, int]] = {}
    extents: list[tuple[re.Match[bytes], int]] = []
    offset = base
    for raw in text.split(b"\n"):
        line = raw.strip(b" \t\r")
        if line and not line.startswith(b"#"):
            _read_line(line, offset, values, extents)
        offset += len(raw) + 1
    return Descriptor(_create_type(values, base), _one_extent(extents, base))


def _check_no_protocols(text: bytes, base: int) -> None:
    lowered = text.lower()
    found = lowered.find(b"json:")
    if found >= 0:
        raise DiskImageRejected(
            "vmdk_protocol",
            f"the descriptor holds a 'json:' block-driver specification at offset {base + found}",
        )
    for match in re.finditer(rb'"([^"\n]*)"', text):
        value = match.group(1).strip()
        if _PROTOCOL.match(value):
            raise DiskImageRejected(
                "vmdk_protocol",
                f"the descriptor value {quote_name(value)} at offset {base + match.start(1)} starts with a "
                "protocol or drive prefix",
            )


def _read_line(
    line: bytes,
    offset: int,
    values: dict[bytes, tuple[bytes, int]],
    extents: list[tuple[re.Match[bytes], int]],
) -> None:
    first = line.split(None, 1)[0]
    if first in _ACCESS or first.upper() in _ACCESS:
        match = _EXTENT.match(line)
        if match is None:
            raise DiskImageRejected("vmdk_extent", f"the extent line at offset {offset} is malformed")
        extents.append((match, offset))
        return
    kv = _KEY_VALUE.match(line)
    if kv is None:
        raise header_error(f"the descriptor line at offset {offset} is neither a setting nor an extent")
    key = kv.group(1)
    if key in values:
        raise header_error(f"the descriptor sets {key.decode()} twice (again at offset {offset})")
    values[key] = (kv.group(2).strip().strip(b'"'), offset)


def _create_type(values: dict[bytes, tuple[bytes, int]], base: int) -> str:
    if b"createType" not in values:
        raise DiskImageRejected("vmdk_create_type", f"the descriptor at offset {base} has no createType")
    value, offset = values[b"createType"]
    name = value.decode("ascii", errors="replace")
    if name not in CREATE_TYPES:
        raise DiskImageRejected(
            "vmdk_create_type",
            f"the createType {quote_name(value)} at offset {offset} is not monolithicSparse or "
            "streamOptimized",
        )
    parent = values.get(b"parentCID")
    if parent is not None and parent[0].lower() != NO_PARENT_CID.encode():
        raise DiskImageRejected(
            "vmdk_parent",
            f"the descriptor's parentCID {quote_name(parent[0])} at offset {parent[1]} says it is a delta of "
            "another disk (a complete disk has ffffffff)",
        )
    return name


def _one_extent(extents: list[tuple[re.Match[bytes], int]], base: int) -> int:
    if not extents:
        raise DiskImageRejected("vmdk_extent", f"the descriptor at offset {base} has no extent line")
    if len(extents) > 1:
        match, offset = extents[1]
        name = match.group(4) or b""
        raise DiskImageRejected(
            "vmdk_extent",
            f"a second extent at offset {offset} names {quote_name(name)}: only one is accepted",
        )
    match, offset = extents[0]
    access, sectors, kind, name, extra = match.groups()
    if kind != b"SPARSE":
        raise DiskImageRejected(
            "vmdk_extent",
            f"the extent at offset {offset} is of type {quote_name(kind)} naming {quote_name(name or b'')}: "
            "only SPARSE is accepted",
        )
    if access != b"RW":
        raise DiskImageRejected(
            "vmdk_extent", f"the extent at offset {offset} has access {quote_name(access)}"
        )
    if name is None or extra is not None:
        raise DiskImageRejected("vmdk_extent", f"the extent at offset {offset} is malformed")
    if not name or any(ch in name for ch in (b"/", b"\\", b":")) or name in (b".", b".."):
        raise DiskImageRejected(
            "vmdk_extent", f"the extent at offset {offset} names {quote_name(name)}: only a plain file name"
        )
    if not sectors.isdigit() or len(sectors) > 20:
        raise DiskImageRejected(
            "vmdk_extent", f"the extent at offset {offset} has size {quote_name(sectors)}"
        )
    return int(sectors)
