"""Byte signatures of other formats, used to explain a refusal and to catch polyglot files.

A polyglot is a file that one reader takes for a qcow2 and another for something else (an ISO
booted from the same bytes, a VHD read from its footer). We store qcow2 only, so a file whose
first bytes belong to another format is simply not a qcow2; the signatures that can sit beside a
valid qcow2 header (an ISO volume descriptor, a VHD footer at the end) are checked separately.
"""

from __future__ import annotations

from scp_images.domain.errors import DiskImageRejected

# Enough leading bytes to recognise every format named below and to quote a few bytes back.
SNIFF_LEN = 64

_LEADING_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"KDMV", "a VMDK sparse image ('KDMV' magic)"),
    (b"# Disk DescriptorFile", "a VMDK descriptor ('# Disk DescriptorFile')"),
    (b"vhdxfile", "a VHDX image ('vhdxfile' signature)"),
    (b"conectix", "a VHD image ('conectix' footer copy at the start)"),
    (b"LUKS\xba\xbe", "a LUKS encrypted volume"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"PK\x03\x04", "a zip archive"),
)

# ISO 9660 volume descriptors live in 2048-byte sectors 16, 17 and 18; 'CD001' follows the type byte.
ISO_MAGIC = b"CD001"
ISO_MAGIC_OFFSETS = (0x8001, 0x8801, 0x9001)
ISO_REGION_END = ISO_MAGIC_OFFSETS[-1] + len(ISO_MAGIC)

# A VHD footer is the last 512 bytes (511 in images written by very old Virtual PC versions).
TAIL_LEN = 512
VHD_COOKIE = b"conectix"

_MAX_QUOTED = 120


def foreign_format(prefix: bytes | bytearray) -> str | None:
    """The name of the format the leading bytes are in, if they match a known signature."""
    head = bytes(prefix[:SNIFF_LEN])
    for magic, name in _LEADING_SIGNATURES:
        if head.startswith(magic):
            return name
    return None


def describe_foreign(prefix: bytes | bytearray) -> str:
    """Say what the leading bytes look like, for a ``not_qcow2`` detail."""
    head = bytes(prefix[:SNIFF_LEN])
    for magic, name in _LEADING_SIGNATURES:
        if head.startswith(magic):
            return f"the data is {name}, not a qcow2"
    if not head:
        return "the data is empty"
    shown = head[:8].hex(" ")
    return f"the data does not start with the qcow2 magic 'QFI\\xfb' (it starts with {shown})"


def check_iso_descriptor(prefix: bytes | bytearray) -> None:
    for offset in ISO_MAGIC_OFFSETS:
        if prefix[offset : offset + len(ISO_MAGIC)] == ISO_MAGIC:
            raise DiskImageRejected(
                "polyglot",
                f"the file is also an ISO 9660 image ('CD001' volume descriptor at offset {offset:#x})",
            )


def check_vhd_footer(tail: bytes | bytearray) -> None:
    """``tail`` is the last (up to) 512 bytes of the whole file."""
    candidates = (tail[-TAIL_LEN:], tail[-(TAIL_LEN - 1) :])
    for footer in candidates:
        if len(footer) >= len(VHD_COOKIE) and footer.startswith(VHD_COOKIE):
            raise DiskImageRejected("polyglot", "the file also ends with a VHD footer ('conectix' cookie)")


def quote_name(raw: bytes | bytearray) -> str:
    """A file name from the image, safe to put in an error message: printable, bounded, quoted."""
    text = bytes(raw).decode("utf-8", errors="replace")
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    if len(cleaned) > _MAX_QUOTED:
        cleaned = cleaned[:_MAX_QUOTED] + "…"
    return "'" + cleaned.replace("'", "\\'") + "'"
