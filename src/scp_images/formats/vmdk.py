"""VMDK inspection: accept one self-contained sparse file (monolithicSparse or streamOptimized).

The rules and why each one matters to qemu are in ``_vmdk_rules``. The file is read front to back
(``_stream_driver``): the header sector, the descriptor (at most 1 MiB), the grain directories in the header
area, then either nothing more (monolithicSparse: the grains) or, for streamOptimized, every grain and
metadata marker in order up to the end-of-stream marker. A grain directory's entries are checked on
the fly (only the largest is kept), so memory stays bounded whatever the file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from scp_images.domain.disk_formats import DiskFormat
from scp_images.domain.errors import DiskImageRejected

from . import _vmdk_rules as rules
from ._stream_driver import REST, Parser, Read, Skip, StreamDriver
from .disk import DiskInfo

SECTOR = rules.SECTOR
_SCAN_PIECE = 64 << 10


class VmdkInspector:
    """Judges a VMDK while it streams past; ``finish`` returns its ``DiskInfo`` or raises."""

    def __init__(self, *, max_virtual_size: int) -> None:
        self._driver: StreamDriver[DiskInfo] = StreamDriver(_parse(max_virtual_size))

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        self._driver.feed(chunk)

    def finish(self) -> DiskInfo:
        return self._driver.finish()


@dataclass
class _Tables:
    """What must still hold at the end: the largest grain-table offset any directory named."""

    last_table: int = 0  # sector
    table_bytes: int = 0
    named_by: str = ""

    def check(self, file_size: int) -> None:
        end = self.last_table * SECTOR + self.table_bytes
        if self.last_table and end > file_size:
            raise rules.outside_error(
                f"the {self.named_by} names a grain table at offset {self.last_table * SECTOR}, ending at "
                f"{end}, past the end of the {file_size}-byte file"
            )


def _parse(max_virtual_size: int) -> Parser[DiskInfo]:
    sector = yield Read(SECTOR)
    assert isinstance(sector, bytes)
    rules.refuse_foreign_start(sector)
    if len(sector) < SECTOR:
        raise DiskImageRejected(
            "truncated", f"the data ends after {len(sector)} bytes, inside the VMDK header"
        )
    header = rules.parse_header(sector)
    rules.check_header(header, max_virtual_size)
    pos = SECTOR
    area = yield from _read(rules.descriptor_end(header) - pos, pos, "the descriptor", "vmdk_header")
    descriptor = rules.parse_descriptor(rules.descriptor_text(area, header), pos)
    pos += len(area)
    _check_agreement(header, descriptor)
    tables = _Tables(table_bytes=header.gt_bytes)
    for offset, name in rules.directory_regions(header):
        yield from _skip(offset - pos, pos, f"the {name}", "vmdk_outside_file")
        yield from _scan_directory(header, offset, name, tables)
        pos = offset + header.gd_entries * 4
    if header.stream_optimized:
        yield from _skip(header.overhead * SECTOR - pos, pos, "the first grain", "truncated")
        size = yield from _walk_markers(header, tables)
    else:
        rest = yield REST
        assert isinstance(rest, int)
        size = rest
        if size < header.overhead * SECTOR:
            raise DiskImageRejected(
                "truncated",
                f"the file ends at {size}, before its first grain at offset {header.overhead * SECTOR}",
            )
    tables.check(size)
    return DiskInfo(disk_format=DiskFormat.VMDK, virtual_size=header.virtual_size)


def _check_agreement(header: rules.SparseHeader, descriptor: rules.Descriptor) -> None:
    if descriptor.extent_sectors != header.capacity:
        raise rules.header_error(
            f"the extent's {descriptor.extent_sectors} sectors do not match the header's capacity of "
            f"{header.capacity} sectors (offset 12)"
        )
    stream = descriptor.create_type == "streamOptimized"
    if stream != header.stream_optimized:
        kind = "compressed" if header.stream_optimized else "uncompressed"
        raise rules.header_error(f"the createType {descriptor.create_type} does not match the {kind} header")


def _read(length: int, pos: int, what: str, reason: str) -> Parser[bytes]:
    data = yield Read(length)
    assert isinstance(data, bytes)
    if len(data) < length:
        end = pos + len(data)
        raise DiskImageRejected(reason, f"the file ends at offset {end}, inside {what} at offset {pos}")
    return data


def _skip(length: int, pos: int, what: str, reason: str) -> Parser[None]:
    skipped = yield Skip(length)
    assert isinstance(skipped, int)
    if skipped < length:
        raise DiskImageRejected(
            reason, f"the file ends at offset {pos + skipped}, before {what} at {pos + length}"
        )


def _scan_directory(header: rules.SparseHeader, offset: int, name: str, tables: _Tables) -> Parser[None]:
    """Read a grain directory in bounded pieces, keeping only its largest entry."""
    remaining, pos = header.gd_entries * 4, offset
    while remaining:
        piece = min(remaining, _SCAN_PIECE)
        data = yield from _read(piece, pos, f"the {name}", "vmdk_outside_file")
        largest = max(struct.unpack(f"<{piece // 4}I", data))
        if largest > tables.last_table:
            tables.last_table, tables.named_by = largest, f"{name} at offset {offset}"
        remaining -= piece
        pos += piece


@dataclass
class _Walk:
    """Where the walk is, and what it met: the grain directory's data offset, the footer."""

    pos: int
    gd_data: int | None = None
    footer_seen: bool = False


def _walk_markers(header: rules.SparseHeader, tables: _Tables) -> Parser[int]:
    """Follow every marker from the first grain to the end-of-stream marker; returns the file size."""
    walk = _Walk(header.overhead * SECTOR)
    grain_bytes = header.grain_size * SECTOR
    while True:
        pos = walk.pos
        marker = yield Read(SECTOR)
        assert isinstance(marker, bytes)
        if not marker and header.gd_offset != rules.GD_AT_END:
            return pos  # an image qemu-img created but never wrote to ends with its header area
        if len(marker) < SECTOR:
            raise DiskImageRejected(
                "truncated", f"the file ends at offset {pos + len(marker)}, inside a marker"
            )
        value, size, kind = rules.MARKER.unpack_from(marker)
        if size:
            yield from _grain(header, pos, value, size, grain_bytes)
            walk.pos += -(-(12 + size) // SECTOR) * SECTOR
            continue
        if walk.footer_seen and kind != rules.MARKER_EOS:
            raise rules.header_error(f"the marker at offset {pos} follows the footer: only end-of-stream may")
        if kind == rules.MARKER_EOS:
            if value:
                raise rules.header_error(f"the end-of-stream marker at offset {pos} has value {value} (0)")
            return (yield from _after_end(header, pos + SECTOR, walk.footer_seen))
        yield from _metadata(header, tables, walk, value, kind)
        walk.pos += SECTOR + value * SECTOR


def _metadata(
    header: rules.SparseHeader, tables: _Tables, walk: _Walk, value: int, kind: int
) -> Parser[None]:
    """A grain table, grain directory or footer marker at ``walk.pos``, and the sectors it spans."""
    pos = walk.pos
    if kind == rules.MARKER_GT:
        _check_metadata_length(pos, "grain table", value, -(-header.gt_bytes // SECTOR))
        yield from _skip(value * SECTOR, pos + SECTOR, "the end of the grain table", "vmdk_outside_file")
    elif kind == rules.MARKER_GD:
        if walk.gd_data is not None:
            raise rules.header_error(f"a second grain directory marker at offset {pos}")
        _check_metadata_length(pos, "grain directory", value, -(-header.gd_entries * 4 // SECTOR))
        walk.gd_data = pos + SECTOR
        yield from _scan_directory(header, walk.gd_data, "grain directory", tables)
        padding = value * SECTOR - header.gd_entries * 4
        yield from _skip(padding, walk.gd_data, "the directory's end", "vmdk_outside_file")
    elif kind == rules.MARKER_FOOTER:
        _check_metadata_length(pos, "footer", value, 1)
        footer = yield from _read(SECTOR, pos + SECTOR, "the footer", "truncated")
        _check_footer(header, footer, pos + SECTOR, walk.gd_data)
        walk.footer_seen = True
    else:
        raise rules.header_error(f"the marker at offset {pos} has unknown type {kind}")


def _grain(header: rules.SparseHeader, pos: int, lba: int, size: int, grain_bytes: int) -> Parser[None]:
    if lba % header.grain_size or lba >= header.capacity:
        raise rules.header_error(
            f"the grain marker at offset {pos} is for sector {lba}, not a grain start inside the "
            f"{header.capacity}-sector disk"
        )
    if size > 2 * grain_bytes:
        raise rules.header_error(
            f"the grain marker at offset {pos} claims {size} compressed bytes for a {grain_bytes}-byte grain"
        )
    record = -(-(12 + size) // SECTOR) * SECTOR
    skipped = yield Skip(record - SECTOR)
    assert isinstance(skipped, int)
    if skipped < record - SECTOR:
        raise rules.outside_error(
            f"the grain marker at offset {pos} claims {size} bytes, running past the end of the file at "
            f"{pos + SECTOR + skipped}"
        )


def _check_metadata_length(pos: int, what: str, value: int, expected: int) -> None:
    if value != expected:
        raise rules.header_error(
            f"the {what} marker at offset {pos} spans {value} sectors ({expected} expected)"
        )


def _check_footer(header: rules.SparseHeader, footer: bytes, pos: int, gd_data: int | None) -> None:
    if not footer.startswith(rules.MAGIC):
        raise rules.header_error(f"the footer at offset {pos} does not start with 'KDMV'")
    copy = rules.parse_header(footer)
    if not copy.same_layout(header):
        raise rules.header_error(f"the footer at offset {pos} contradicts the header")
    if header.gd_offset == rules.GD_AT_END:
        if gd_data is None or copy.gd_offset * SECTOR != gd_data:
            raise rules.header_error(
                f"the footer at offset {pos} puts the grain directory at sector {copy.gd_offset}, "
                "not where its marker is"
            )
    elif copy.gd_offset != header.gd_offset:
        raise rules.header_error(f"the footer at offset {pos} moves the grain directory the header names")


def _after_end(header: rules.SparseHeader, end: int, footer_seen: bool) -> Parser[int]:
    """After end-of-stream: nothing (qemu reads a footer at the very end), or zeros (qemu-img pads)."""
    if header.gd_offset == rules.GD_AT_END:
        if not footer_seen:
            raise rules.header_error(
                f"the stream ends at offset {end} without the footer its header promises"
            )
        size = yield REST
        assert isinstance(size, int)
        if size != end:
            raise rules.header_error(
                f"{size - end} bytes follow the end-of-stream marker at offset {end - SECTOR}"
            )
        return size
    pos = end
    while True:
        data = yield Read(_SCAN_PIECE)
        assert isinstance(data, bytes)
        if data.count(0) != len(data):
            first = pos + next(i for i, byte in enumerate(data) if byte)
            raise rules.header_error(
                f"data at offset {first} follows the end-of-stream marker at {end - SECTOR}"
            )
        pos += len(data)
        if len(data) < _SCAN_PIECE:
            return pos
