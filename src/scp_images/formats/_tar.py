"""POSIX tar headers, as an OVA holds them: ustar (or GNU's ustar variant) with optional pax ``x`` headers.

Only what an OVA needs is understood, and everything else is refused rather than guessed at: regular
files with plain names (no directory part, no ``..``, no absolute path), a pax header per member with
the keys below. Links, devices, directories, FIFOs, pax global headers, GNU long names and GNU sparse
members are all refused (``ova_member``), so the name we check is the name every tar reader sees.
"""

from __future__ import annotations

from dataclasses import dataclass

from scp_images.domain.errors import DiskImageRejected

from ._signatures import quote_name

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
MAX_PAX_BYTES = 64 << 10
MAX_NAME = 255
# pax keys that only describe a regular file; ``path`` and ``size`` are applied, the rest ignored.
PAX_KEYS = frozenset({"path", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname"})
# Extended attributes and inode numbers that bsdtar (macOS) and GNU tar ``--xattrs`` record: ignored.
PAX_IGNORED_PREFIXES = ("LIBARCHIVE.xattr.", "SCHILY.xattr.", "SCHILY.dev", "SCHILY.ino", "SCHILY.nlink")
REGULAR = (b"0", b"\0")
PAX = b"x"
_TYPE_NAMES = {
    b"1": "a hard link", b"2": "a symbolic link", b"3": "a character device", b"4": "a block device",
    b"5": "a directory", b"6": "a FIFO", b"7": "a contiguous file", b"g": "a pax global header",
    b"L": "a GNU long name", b"K": "a GNU long link name", b"S": "a GNU sparse file",
}  # fmt: skip


def member_error(detail: str) -> DiskImageRejected:
    return DiskImageRejected("ova_member", detail)


@dataclass(frozen=True, slots=True)
class TarHeader:
    name: str
    size: int
    kind: bytes


def parse_header(block: bytes, pos: int) -> TarHeader:
    """One 512-byte header block at archive offset ``pos``."""
    _check_checksum(block, pos)
    magic = block[257:265]
    if magic not in (b"ustar\x0000", b"ustar  \x00"):
        raise member_error(f"the header at offset {pos} is not a POSIX (ustar) tar header")
    kind = block[156:157]
    name = _field(block[0:100])
    prefix = _field(block[345:500]) if magic.startswith(b"ustar\x00") else b""
    if prefix:
        name = prefix + b"/" + name
    size = _number(block[124:136], pos, "size")
    return TarHeader(_decode(name, pos), size, kind)


def check_kind(header: TarHeader, pos: int) -> None:
    if header.kind in REGULAR or header.kind == PAX:
        return
    what = _TYPE_NAMES.get(header.kind, f"type {quote_name(header.kind)}")
    raise member_error(f"the member {quote_name(header.name.encode())} at offset {pos} is {what}")


def check_name(name: str, pos: int) -> None:
    shown = quote_name(name.encode())
    if not name or name in (".", "..") or "/" in name or "\\" in name or len(name) > MAX_NAME:
        raise member_error(f"the member {shown} at offset {pos} does not have a plain file name")
    if any(not ch.isprintable() for ch in name):
        raise member_error(f"the member {shown} at offset {pos} has control characters in its name")


def parse_pax(data: bytes, pos: int) -> dict[str, str]:
    """The records of a pax ``x`` header at offset ``pos``: ``"<length> <key>=<value>\\n"`` each."""
    records: dict[str, str] = {}
    offset = 0
    while offset < len(data):
        space = data.find(b" ", offset, offset + 20)
        if space < 0 or not data[offset:space].isdigit():
            raise member_error(f"the pax header at offset {pos} has a malformed record at byte {offset}")
        end = offset + int(data[offset:space])
        if end > len(data) or end <= space or data[end - 1 : end] != b"\n" or b"=" not in data[space:end]:
            raise member_error(f"the pax header at offset {pos} has a malformed record at byte {offset}")
        key, _, value = data[space + 1 : end - 1].partition(b"=")
        text = key.decode("utf-8", errors="replace")
        if text.startswith(PAX_IGNORED_PREFIXES):
            offset = end
            continue
        if text not in PAX_KEYS:
            raise member_error(
                f"the pax header at offset {pos} sets {quote_name(key)}, which is not accepted"
            )
        records[text] = _decode(value, pos)
        offset = end
    return records


def pax_size(value: str, pos: int) -> int:
    if not value.isdigit() or len(value) > 20:
        raise member_error(f"the pax header at offset {pos} gives size {quote_name(value.encode())}")
    return int(value)


def _field(raw: bytes) -> bytes:
    return raw.split(b"\0", 1)[0]


def _decode(raw: bytes, pos: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise member_error(f"the header at offset {pos} has a name that is not UTF-8") from None


def _number(raw: bytes, pos: int, what: str) -> int:
    if raw[0] == 0x80:  # GNU base-256, for sizes beyond 8 GiB
        return int.from_bytes(raw[1:], "big")
    text = raw.split(b"\0", 1)[0].strip(b" ")
    if not text or any(ch not in b"01234567" for ch in text):
        raise member_error(f"the header at offset {pos} has an invalid {what} field {quote_name(raw)}")
    return int(text, 8)


def _check_checksum(block: bytes, pos: int) -> None:
    stored = _number(block[148:156], pos, "checksum")
    computed = sum(block[:148]) + sum(block[156:]) + 8 * 0x20
    if stored != computed:
        raise member_error(f"the header at offset {pos} has a bad checksum ({stored}, computed {computed})")
