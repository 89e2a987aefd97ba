"""The qcow2 header layout and the rules a header must pass (see qemu's docs/interop/qcow2.txt).

Feature-bit policy, following what each bit means to qemu:

- bit 0 *dirty* is accepted. It only says the refcounts may be stale (lazy refcounts were on when
  the writer stopped); guest data is where the L1/L2 tables say. qemu reads such an image as is and
  rebuilds the refcounts when it opens it writable.
- bit 1 *corrupt* is refused (``corrupt``): qemu itself refuses to open it writable, and its
  metadata is known to be inconsistent.
- bit 2 *external data file* is refused (``external_data_file``): the guest data lives in a file
  named by the image, which is how CVE-2024-32498 reads host files.
- bit 3 *compression type* is accepted when it agrees with the compression type field (zlib or
  zstd); it changes how compressed clusters decode, not where data lives.
- bit 4 *extended L2* is accepted: L2 entries grow to 128 bits with subcluster bitmaps, but every
  data pointer still points into this file. It halves the L2 entries per cluster, which the L1
  size check accounts for.
- any other incompatible bit is refused (``unknown_incompatible_features``). Compatible and
  autoclear bits are harmless by definition, except autoclear bit 1 (raw external data), which only
  has a meaning next to an external data file and is refused with it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING

from scp_images.domain.errors import DiskImageRejected

from ._signatures import SNIFF_LEN, describe_foreign, quote_name

if TYPE_CHECKING:
    from .qcow2 import QcowHeader

MAGIC = b"QFI\xfb"
V2_HEADER = struct.Struct(">4sIQIIQIIQQIIQ")  # the 72 bytes common to versions 2 and 3
V3_FIELDS = struct.Struct(">QQQII")  # features, refcount_order, header_length: up to byte 104
V2_NAMES = (
    "version", "backing_file_offset", "backing_file_size", "cluster_bits", "virtual_size", "crypt_method",
    "l1_size", "l1_table_offset", "refcount_table_offset", "refcount_table_clusters", "nb_snapshots",
    "snapshots_offset",
)  # fmt: skip
V3_NAMES = (
    "incompatible_features", "compatible_features", "autoclear_features", "refcount_order", "header_length",
)  # fmt: skip
V3_MIN_HEADER = V2_HEADER.size + V3_FIELDS.size
COMPRESSION_TYPE_OFFSET = 104
EXTENSION_HEADER = struct.Struct(">II")

MIN_CLUSTER_BITS, MAX_CLUSTER_BITS = 9, 21
MAX_CLUSTER_SIZE = 1 << MAX_CLUSTER_BITS

INCOMPAT_DIRTY = 1 << 0
INCOMPAT_CORRUPT = 1 << 1
INCOMPAT_DATA_FILE = 1 << 2
INCOMPAT_COMPRESSION = 1 << 3
INCOMPAT_EXTENDED_L2 = 1 << 4
KNOWN_INCOMPAT = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION
KNOWN_INCOMPAT |= INCOMPAT_EXTENDED_L2
AUTOCLEAR_DATA_FILE_RAW = 1 << 1

EXT_END = 0
EXT_CRYPTO_HEADER = 0x0537BE77
EXT_DATA_FILE = 0x44415441
EXT_NAMES = {
    0xE2792ACA: "backing file format name",
    0x6803F857: "feature name table",
    0x23852875: "bitmaps",
    EXT_CRYPTO_HEADER: "full disk encryption header",
    EXT_DATA_FILE: "external data file name",
}
COMPRESSION_NAMES = {0: "zlib", 1: "zstd"}

# qemu's own ceilings: larger tables are refused by qemu too, and they bound what tools allocate.
MAX_L1_ENTRIES = (32 << 20) // 8
MAX_REFTABLE_BYTES = 8 << 20
MAX_SNAPSHOTS = 65536
SNAPSHOT_HEADER_MIN = 40
MAX_BACKING_NAME = 1023
INT64_MAX = (1 << 63) - 1
# `qemu-img resize` grows L1 by half again per step and a shrink keeps the old table, so allow twice
# the needed length plus 64 KiB of entries. A shrink by more than that (or a huge VM-state area
# from internal snapshots) is refused: rare, and `qemu-img convert` rewrites a right-sized table.
L1_SLACK_ENTRIES = 8192
# Real images carry a handful of extensions; a cap keeps re-parsing a growing prefix cheap.
MAX_EXTENSIONS = 256


class NeedMore(Exception):
    """The prefix is too short to decide yet; ``length`` bytes are needed."""

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length


class Reader:
    """A prefix of the file; ``final`` means no more bytes will come."""

    def __init__(self, data: bytes | bytearray, final: bool) -> None:
        self.data = data
        self.final = final

    def require(self, end: int, what: str) -> None:
        if len(self.data) >= end:
            return
        if not self.final:
            raise NeedMore(end)
        have = len(self.data)
        if not have:
            raise DiskImageRejected("truncated", "the data is empty")
        unit = "byte" if have == 1 else "bytes"
        detail = f"the data ends after {have} {unit}, but {what} needs {end} bytes"
        raise DiskImageRejected("truncated", detail)


def _reject(reason: str, detail: str) -> DiskImageRejected:
    return DiskImageRejected(reason, detail)


def _bad(detail: str) -> DiskImageRejected:
    return DiskImageRejected("bad_geometry", detail)


def read_version(r: Reader) -> int:
    head = bytes(r.data[: len(MAGIC)])
    if head != MAGIC[: len(head)]:
        if len(r.data) < SNIFF_LEN and not r.final:
            raise NeedMore(SNIFF_LEN)
        raise _reject("not_qcow2", describe_foreign(r.data))
    r.require(len(MAGIC) + 4, "the start of the qcow2 header (magic and version)")
    version = int.from_bytes(r.data[4:8], "big")
    if version == 1:
        raise _reject("not_qcow2", "the data is a qcow version 1 image, not a qcow2 (version 2 or 3)")
    if version not in (2, 3):
        raise _reject("not_qcow2", f"qcow2 version {version} is not supported (only versions 2 and 3)")
    return version


def read_fields(r: Reader, version: int) -> dict[str, int]:
    r.require(V2_HEADER.size, f"the qcow2 version {version} header")
    fields = dict(zip(V2_NAMES, V2_HEADER.unpack_from(r.data)[1:], strict=True))
    _check_cluster_bits(fields["cluster_bits"])
    if version == 2:
        fields.update(incompatible_features=0, compatible_features=0, autoclear_features=0)
        fields.update(refcount_order=4, header_length=V2_HEADER.size, compression_type=0)
        return fields
    r.require(V3_MIN_HEADER, "the qcow2 version 3 header")
    fields.update(zip(V3_NAMES, V3_FIELDS.unpack_from(r.data, V2_HEADER.size), strict=True))
    _check_header_length(fields["header_length"], fields["cluster_bits"])
    r.require(fields["header_length"], f"the qcow2 header (header_length {fields['header_length']})")
    has_type = fields["header_length"] > COMPRESSION_TYPE_OFFSET
    fields["compression_type"] = r.data[COMPRESSION_TYPE_OFFSET] if has_type else 0
    return fields


def _check_cluster_bits(bits: int) -> None:
    # Everything later is bounded by the cluster size, so it is checked before any other field.
    if not MIN_CLUSTER_BITS <= bits <= MAX_CLUSTER_BITS:
        raise _bad(f"cluster_bits {bits} is outside 9..21 (clusters of 512 bytes to 2 MiB)")


def _check_header_length(length: int, cluster_bits: int) -> None:
    if length < V3_MIN_HEADER or length % 8:
        raise _bad(f"header_length {length} is invalid for version 3 (at least 104 and a multiple of 8)")
    if length > 1 << cluster_bits:
        raise _bad(f"header_length {length} is larger than the {1 << cluster_bits}-byte cluster")


def check_encryption(h: QcowHeader) -> None:
    methods = {1: "legacy AES", 2: "LUKS"}
    if h.crypt_method:
        method = methods.get(h.crypt_method, "an unknown method")
        raise _reject("encrypted", f"the image is encrypted (crypt_method {h.crypt_method}: {method})")


def check_backing_file(r: Reader, h: QcowHeader) -> None:
    if not (h.backing_file_offset or h.backing_file_size):
        return
    name = _backing_name(r, h)
    if name is None:
        where = f"name at offset {h.backing_file_offset}, {h.backing_file_size} bytes long"
        raise _reject("backing_file", f"the image names a backing file ({where})")
    raise _reject("backing_file", f"the image names a backing file {name}")


def _backing_name(r: Reader, h: QcowHeader) -> str | None:
    start, size = h.backing_file_offset, h.backing_file_size
    end = start + size
    if not 0 < size <= MAX_BACKING_NAME or start < h.header_length or end > h.cluster_size:
        return None
    if len(r.data) < end:
        if not r.final:
            raise NeedMore(end)
        return None
    return quote_name(r.data[start:end])


def check_features(r: Reader, h: QcowHeader) -> None:
    incompatible = h.incompatible_features
    if incompatible & INCOMPAT_DATA_FILE:
        name = _data_file_name(r, h) or "(incompatible feature bit 2)"
        raise _reject("external_data_file", f"the image keeps its data in an external data file {name}")
    if h.autoclear_features & AUTOCLEAR_DATA_FILE_RAW:
        raise _reject("external_data_file", "the image sets the 'raw external data file' autoclear bit 1")
    unknown = incompatible & ~KNOWN_INCOMPAT
    if unknown:
        bits = ", ".join(str(bit) for bit in range(64) if unknown >> bit & 1)
        detail = f"the image sets incompatible feature bits this service does not know: {bits}"
        raise _reject("unknown_incompatible_features", detail)
    if incompatible & INCOMPAT_CORRUPT:
        raise _reject("corrupt", "the image is marked corrupt (incompatible feature bit 1)")
    _check_compression(h)


def _check_compression(h: QcowHeader) -> None:
    name = COMPRESSION_NAMES.get(h.compression_type)
    if name is None:
        raise _reject("unknown_incompatible_features", f"compression type {h.compression_type} is unknown")
    flagged = bool(h.incompatible_features & INCOMPAT_COMPRESSION)
    if flagged != (h.compression_type != 0):
        state = "set" if flagged else "clear"
        raise _reject(
            "unknown_incompatible_features",
            f"the compression-type feature bit 3 is {state} but the compression type is {name}",
        )


def check_virtual_size(h: QcowHeader, max_virtual_size: int) -> None:
    if h.virtual_size > min(max_virtual_size, INT64_MAX):
        raise _reject(
            "virtual_size_too_large",
            f"the virtual size of {h.virtual_size} bytes exceeds the limit of {max_virtual_size} bytes",
        )


def l1_entries_needed(h: QcowHeader) -> int:
    l2_entry_bits = 4 if h.incompatible_features & INCOMPAT_EXTENDED_L2 else 3
    covered_bits = h.cluster_bits + (h.cluster_bits - l2_entry_bits)
    return (h.virtual_size + (1 << covered_bits) - 1) >> covered_bits


def check_l1_table(h: QcowHeader) -> None:
    needed = l1_entries_needed(h)
    if needed > MAX_L1_ENTRIES:
        detail = f"a virtual size of {h.virtual_size} bytes needs {needed} L1 entries"
        raise _bad(f"{detail}, more than the {MAX_L1_ENTRIES} qemu allows")
    if h.l1_size < needed:
        raise _bad(f"l1_size {h.l1_size} is below the {needed} L1 entries the virtual size needs")
    if h.l1_size > min(MAX_L1_ENTRIES, needed + max(needed, L1_SLACK_ENTRIES)):
        raise _bad(f"l1_size {h.l1_size} is far above the {needed} L1 entries the virtual size needs")
    _check_table_offset(h, "L1 table", h.l1_table_offset, h.l1_size * 8)


def check_refcount_table(h: QcowHeader) -> None:
    if h.refcount_order > 6:
        raise _bad(f"refcount_order {h.refcount_order} is above 6 (64-bit refcounts)")
    clusters, limit = h.refcount_table_clusters, MAX_REFTABLE_BYTES >> h.cluster_bits
    if not 0 < clusters <= limit:
        raise _bad(f"the refcount table has {clusters} clusters (expected 1 to {limit})")
    _check_table_offset(h, "refcount table", h.refcount_table_offset, clusters * h.cluster_size)


def check_snapshot_table(h: QcowHeader) -> None:
    if h.nb_snapshots > MAX_SNAPSHOTS:
        raise _bad(f"the image declares {h.nb_snapshots} snapshots (at most {MAX_SNAPSHOTS})")
    _check_table_offset(h, "snapshot table", h.snapshots_offset, h.nb_snapshots * SNAPSHOT_HEADER_MIN)


def _check_table_offset(h: QcowHeader, name: str, offset: int, length: int) -> None:
    if offset % h.cluster_size:
        raise _bad(f"the {name} offset {offset:#x} is not aligned to the {h.cluster_size}-byte cluster")
    if length and offset == 0:
        raise _bad(f"the {name} is at offset 0, on top of the header")
    if offset + length > INT64_MAX:
        raise _bad(f"the {name} at offset {offset:#x} ends beyond the largest possible file")


def read_extensions(r: Reader, h: QcowHeader) -> tuple[int, ...]:
    seen: list[int] = []
    for ext_type, payload in _walk_extensions(r, h):
        _check_extension(ext_type, payload)
        seen.append(ext_type)
    return tuple(seen)


def _data_file_name(r: Reader, h: QcowHeader) -> str | None:
    """The external data file's name, for the message only: a broken extension area gives None."""
    try:
        for ext_type, payload in _walk_extensions(r, h):
            if ext_type == EXT_DATA_FILE:
                return quote_name(payload)
    except DiskImageRejected:
        return None
    return None


def _walk_extensions(r: Reader, h: QcowHeader) -> Iterator[tuple[int, bytes]]:
    """The extensions between the header and the end of the first cluster, up to the end marker."""
    offset, count = h.header_length, 0
    while offset < h.cluster_size:
        ext_type, payload = _read_extension(r, h, offset)
        if ext_type == EXT_END:
            return
        count += 1
        if count > MAX_EXTENSIONS:
            raise _bad(f"the header has more than {MAX_EXTENSIONS} extensions")
        yield ext_type, payload
        offset += EXTENSION_HEADER.size + (len(payload) + 7) // 8 * 8


def _read_extension(r: Reader, h: QcowHeader, offset: int) -> tuple[int, bytes]:
    start = offset + EXTENSION_HEADER.size
    if start > h.cluster_size:
        raise _bad(f"the header extension at offset {offset} does not fit in the first cluster")
    r.require(start, f"the header extension at offset {offset}")
    ext_type, length = EXTENSION_HEADER.unpack_from(r.data, offset)
    if ext_type == EXT_END:
        return ext_type, b""
    if start + length > h.cluster_size:
        raise _bad(f"header extension {_ext_name(ext_type)} runs past the first cluster ({length} bytes)")
    r.require(start + length, f"header extension {_ext_name(ext_type)}")
    return ext_type, bytes(r.data[start : start + length])


def _ext_name(ext_type: int) -> str:
    known = EXT_NAMES.get(ext_type)
    return f"{ext_type:#010x} ({known})" if known else f"{ext_type:#010x}"


def _check_extension(ext_type: int, payload: bytes) -> None:
    if ext_type == EXT_DATA_FILE:
        raise _reject("external_data_file", f"the image names an external data file {quote_name(payload)}")
    if ext_type == EXT_CRYPTO_HEADER:
        raise _reject("encrypted", "the image carries a full-disk-encryption header extension")


def check_within_file(h: QcowHeader, file_size: int) -> None:
    tables = (
        ("L1 table", h.l1_table_offset, h.l1_size * 8),
        ("refcount table", h.refcount_table_offset, h.refcount_table_clusters * h.cluster_size),
        ("snapshot table", h.snapshots_offset, h.nb_snapshots * SNAPSHOT_HEADER_MIN),
    )
    for name, offset, length in tables:
        if length and offset + length > file_size:
            where = f"the {name} at offset {offset:#x} ({length} bytes)"
            raise _reject("truncated", f"{where} ends past the end of the {file_size}-byte file")
