"""OVA inspection: a tar holding one ``.ovf`` descriptor and the one VMDK disk it names.

The tar is read member by member (``_tar``). The ``.ovf`` must be the first member (as the OVF
specification requires, so the disk's name is known before its bytes arrive), at most 1 MiB, and is
parsed by ``_ovf``. Every later member must be a file the descriptor names, or a manifest or
certificate; the disk member is streamed through a ``VmdkInspector`` without being kept. ``finish``
says where the disk's bytes lie in the tar, so the conversion job copies exactly that range.
"""

from __future__ import annotations

from collections.abc import Callable

from scp_images.domain.disk_formats import DiskFormat
from scp_images.domain.errors import DiskImageRejected

from . import _tar as tar
from ._ovf import MAX_OVF_BYTES, descriptor_error, parse_ovf
from ._signatures import quote_name
from ._stream_driver import Parser, Pass, Read, Skip, StreamDriver
from .disk import DiskInfo
from .vmdk import VmdkInspector

_SIDE_FILES = (".mf", ".cert")
_SCAN_PIECE = 64 << 10


class OvaInspector:
    """Judges an OVA while it streams past; ``finish`` returns its ``DiskInfo`` or raises."""

    def __init__(self, *, max_virtual_size: int) -> None:
        self._driver: StreamDriver[DiskInfo] = StreamDriver(_parse(max_virtual_size))

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        self._driver.feed(chunk)

    def finish(self) -> DiskInfo:
        return self._driver.finish()


def _parse(max_virtual_size: int) -> Parser[DiskInfo]:
    pos = 0
    seen: set[str] = set()
    disk_name: str | None = None
    named: set[str] = set()
    found: DiskInfo | None = None
    while True:
        header, data_pos = yield from _next_member(pos)
        if header is None:
            break
        name = header.name
        shown = quote_name(name.encode())
        if name in seen:
            raise tar.member_error(f"the member {shown} at offset {data_pos - tar.BLOCK} appears twice")
        seen.add(name)
        if disk_name is None:
            named, disk_name = yield from _descriptor(header, data_pos)
        elif name == disk_name:
            found = yield from _disk(header, data_pos, max_virtual_size)
        elif name in named or name.lower().endswith(_SIDE_FILES):
            yield from _skip_data(header.size, data_pos, shown)
        else:
            raise DiskImageRejected(
                "ova_disks",
                f"the member {shown} at offset {data_pos - tar.BLOCK} is not named by the descriptor",
            )
        pos = data_pos + _padded(header.size)
    if disk_name is None:
        raise descriptor_error("the archive holds no .ovf descriptor")
    if found is None:
        raise DiskImageRejected(
            "ova_disks",
            f"the descriptor names the disk {quote_name(disk_name.encode())}, which is not in the archive",
        )
    return found


def _next_member(pos: int) -> Parser[tuple[tar.TarHeader | None, int]]:
    """The next regular file's header (pax records applied) and where its data starts; None at the end."""
    pax: dict[str, str] | None = None
    while True:
        block = yield from _read(tar.BLOCK, pos, "a member header")
        if block == tar.ZERO_BLOCK:
            if pax is not None:
                raise tar.member_error(
                    f"the pax header before offset {pos} is followed by the end of the archive"
                )
            yield from _end_of_archive(pos)
            return None, pos
        header = tar.parse_header(block, pos)
        tar.check_kind(header, pos)
        if header.kind == tar.PAX:
            if header.size > tar.MAX_PAX_BYTES or pax is not None:
                raise tar.member_error(f"the pax header at offset {pos} is too large or follows another")
            records = yield from _read(header.size, pos + tar.BLOCK, "a pax header")
            yield from _skip(_padded(header.size) - header.size, pos + tar.BLOCK + header.size, "padding")
            pax = tar.parse_pax(records, pos)
            pos += tar.BLOCK + _padded(header.size)
            continue
        pax = pax or {}
        name = pax.get("path", header.name)
        size = tar.pax_size(pax["size"], pos) if "size" in pax else header.size
        tar.check_name(name, pos)
        return tar.TarHeader(name, size, header.kind), pos + tar.BLOCK


def _descriptor(header: tar.TarHeader, data_pos: int) -> Parser[tuple[set[str], str]]:
    shown = quote_name(header.name.encode())
    if not header.name.lower().endswith(".ovf"):
        raise descriptor_error(f"the first member {shown} is not the .ovf descriptor (it must come first)")
    if header.size > MAX_OVF_BYTES:
        raise descriptor_error(f"the descriptor {shown} is {header.size} bytes (at most {MAX_OVF_BYTES})")
    data = yield from _read(header.size, data_pos, f"the descriptor {shown}")
    yield from _skip(_padded(header.size) - header.size, data_pos + header.size, "padding")
    where = f"the descriptor {shown} at offset {data_pos}"
    files = parse_ovf(data, where)
    disk = files.disk_name(where)
    if disk == header.name or disk.lower().endswith(".ovf"):
        raise DiskImageRejected("ova_disks", f"{where} names a descriptor as its disk")
    return set(files.files.values()), disk


def _disk(header: tar.TarHeader, data_pos: int, max_virtual_size: int) -> Parser[DiskInfo]:
    inspector = VmdkInspector(max_virtual_size=max_virtual_size)
    where = f"the disk {quote_name(header.name.encode())} at offset {data_pos} in the archive"
    passed = yield Pass(header.size, _in_member(inspector.feed, where))
    assert isinstance(passed, int)
    if passed < header.size:
        raise DiskImageRejected(
            "truncated", f"the archive ends inside {where} ({passed} of {header.size} bytes)"
        )
    try:
        inner = inspector.finish()
    except DiskImageRejected as refusal:
        raise _within(refusal, where) from None
    yield from _skip(_padded(header.size) - header.size, data_pos + header.size, "padding")
    return DiskInfo(
        disk_format=DiskFormat.OVA,
        virtual_size=inner.virtual_size,
        member_offset=data_pos,
        member_size=header.size,
        member_name=header.name,
        inner=inner,
    )


def _in_member(feed: Callable[[memoryview], None], where: str) -> Callable[[memoryview], None]:
    def sink(piece: memoryview) -> None:
        try:
            feed(piece)
        except DiskImageRejected as refusal:
            raise _within(refusal, where) from None

    return sink


def _within(refusal: DiskImageRejected, where: str) -> DiskImageRejected:
    return DiskImageRejected(refusal.reason, f"{where}: {refusal.params['detail']}")


def _end_of_archive(pos: int) -> Parser[None]:
    """After the first zero block: a second one, then only zeros (tar pads to its record size)."""
    second = yield from _read(tar.BLOCK, pos + tar.BLOCK, "the end-of-archive blocks")
    offset = pos + tar.BLOCK
    data = second
    while True:
        if data.count(0) != len(data):
            raise tar.member_error(
                f"data follows the end-of-archive block at offset {pos} (near offset {offset})"
            )
        offset += len(data)
        if len(data) < (tar.BLOCK if data is second else _SCAN_PIECE):
            return
        piece = yield Read(_SCAN_PIECE)
        assert isinstance(piece, bytes)
        data = piece


def _skip_data(size: int, data_pos: int, shown: str) -> Parser[None]:
    yield from _skip(_padded(size), data_pos, f"the member {shown}")


def _read(length: int, pos: int, what: str) -> Parser[bytes]:
    data = yield Read(length)
    assert isinstance(data, bytes)
    if len(data) < length:
        if pos == 0 and not data:
            raise DiskImageRejected("truncated", "the data is empty")
        raise DiskImageRejected(
            "truncated", f"the archive ends at offset {pos + len(data)}, inside {what} at {pos}"
        )
    return data


def _skip(length: int, pos: int, what: str) -> Parser[None]:
    skipped = yield Skip(length)
    assert isinstance(skipped, int)
    if skipped < length:
        raise DiskImageRejected(
            "truncated", f"the archive ends at offset {pos + skipped}, inside {what} at {pos}"
        )


def _padded(size: int) -> int:
    return -(-size // tar.BLOCK) * tar.BLOCK
