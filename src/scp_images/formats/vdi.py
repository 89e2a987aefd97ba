"""VDI (VirtualBox): decide from the bytes alone whether a disk can be converted.

A VDI starts with 64 bytes of text, then the signature 0xbeda107f and a little-endian header
(version 1.1). The block map (one 32-bit entry per 1 MiB block: a block number, or
0xffffffff / 0xfffffffe for a block that is not stored) lies between the header and the data.

Rules (a refusal names the rule and the byte offset):
- image type 1 (normal, dynamic) or 2 (fixed); 3 (undo), 4 (differencing) and others are refused,
  and so is a header naming a parent or linked image by UUID (``vdi_image_type``);
- what qemu reads: version 1.1, 512-byte sectors, 1 MiB blocks without extra bytes, the block map
  and the data 512-byte aligned, the map large enough for the disk and placed after the header and
  before the data, every stored block's number within the block count and its data inside the file
  (``vdi_structure``);
- the disk size (rounded down to 512 bytes, as qemu does) is within the ceiling.
"""

from __future__ import annotations

import struct

from scp_images.domain.disk_formats import DiskFormat
from scp_images.domain.errors import DiskImageRejected

from ._stream import StreamInspector, past_the_end
from .disk import DiskInfo

SIGNATURE = 0xBEDA107F
SIGNATURE_AT = 64
HEADER_SIZE = 512
# signature, version, header size, image type, flags (from offset 64)
HEAD = struct.Struct("<IIIII")
# block map offset, data offset, cylinders, heads, sectors, sector size, unused, disk size, block size,
# block extra, blocks in image, blocks allocated (from offset 340)
GEOMETRY = struct.Struct("<IIIIIIIQIIII")
GEOMETRY_AT = 340
UUIDS_AT = 392  # image, last snapshot, link, parent: 16 bytes each
VERSION_1_1 = 0x00010001
SECTOR = 512
BLOCK_SIZE = 1 << 20  # the only block size qemu reads
MAX_BLOCKS = 0xFFFFFFFF // 4  # qemu's limit
NOT_STORED = (0xFFFFFFFF, 0xFFFFFFFE)  # unallocated, discarded (reads as zeroes)

NORMAL, FIXED, UNDO, DIFFERENCING = 1, 2, 3, 4
IMAGE_TYPES = {NORMAL: "normal", FIXED: "fixed", UNDO: "undo", DIFFERENCING: "differencing"}


def _structure(detail: str) -> DiskImageRejected:
    return DiskImageRejected("vdi_structure", detail)


class VdiInspector(StreamInspector):
    """Judge a VDI while it streams past. Memory: the 512-byte header and one 64 KiB piece of the
    block map at a time. The header is judged by the ``feed`` that completes it."""

    def __init__(self, *, max_virtual_size: int) -> None:
        super().__init__()
        self._max_virtual_size = max_virtual_size
        self._virtual_size = 0
        self._blocks = 0
        self._data_offset = 0
        self._highest_block: int | None = None
        self._reader.want(0, HEADER_SIZE, "the VDI header", self._on_header)

    def finish(self) -> DiskInfo:
        """Call once the stream has ended; returns the disk's info or raises ``DiskImageRejected``."""
        self._raise_if_failed()
        info = self._judge(self._finish)
        assert isinstance(info, DiskInfo)
        return info

    def _on_header(self, header: bytes) -> None:
        signature, version, _, image_type, _ = HEAD.unpack_from(header, SIGNATURE_AT)
        if signature != SIGNATURE:
            raise DiskImageRejected("unknown_format", f"no VDI signature 0xbeda107f at offset {SIGNATURE_AT}")
        if version != VERSION_1_1:
            raise _structure(
                f"the VDI header at offset {SIGNATURE_AT + 4} gives version {version:#010x}, not 1.1"
            )
        self._check_image_type(header, image_type)
        fields = GEOMETRY.unpack_from(header, GEOMETRY_AT)
        bmap, data, _, _, _, sector, _, disk_size, block_size, extra, blocks, allocated = fields
        if sector != SECTOR or block_size != BLOCK_SIZE or extra:
            detail = f"sector size {sector}, block size {block_size}, block extra {extra} (at offset 360)"
            raise _structure(f"{detail}: only 512-byte sectors and 1 MiB blocks without extra data are read")
        self._virtual_size = disk_size // SECTOR * SECTOR
        if self._virtual_size > self._max_virtual_size:
            detail = f"the disk size at offset 368 is {self._virtual_size} bytes"
            raise DiskImageRejected(
                "virtual_size_too_large", f"{detail}, above the limit of {self._max_virtual_size}"
            )
        if blocks > MAX_BLOCKS or blocks * BLOCK_SIZE < disk_size:
            detail = f"the header at offset 384 gives {blocks} blocks of 1 MiB"
            raise _structure(f"{detail}, which does not hold the disk size of {disk_size} bytes")
        if allocated > blocks:
            raise _structure(
                f"the header at offset 388 gives {allocated} stored blocks, more than its {blocks}"
            )
        if bmap % SECTOR or data % SECTOR:
            raise _structure(
                f"the block map offset {bmap} or data offset {data} (at offset 340) is not 512-aligned"
            )
        if bmap < HEADER_SIZE or bmap + blocks * 4 > data:
            detail = f"the block map at offset {bmap} ({blocks * 4} bytes)"
            raise _structure(f"{detail} does not lie between the header and the data at offset {data}")
        self._blocks, self._data_offset = blocks, data
        if blocks:
            self._reader.want_pieces(bmap, blocks * 4, "the VDI block map", self._on_block_map)

    @staticmethod
    def _check_image_type(header: bytes, image_type: int) -> None:
        if image_type not in (NORMAL, FIXED):
            name = IMAGE_TYPES.get(image_type, "unknown")
            detail = f"the header at offset 76 gives image type {image_type} ({name})"
            raise DiskImageRejected(
                "vdi_image_type", f"{detail}; only normal (1) and fixed (2) images are accepted"
            )
        for name, at in (("link", UUIDS_AT + 32), ("parent", UUIDS_AT + 48)):
            if any(header[at : at + 16]):
                raise DiskImageRejected(
                    "vdi_image_type", f"the header names a {name} image (UUID at offset {at})"
                )

    def _on_block_map(self, offset: int, piece: bytes) -> None:
        stored = set(struct.unpack(f"<{len(piece) // 4}I", piece)).difference(NOT_STORED)
        if not stored:
            return
        highest = max(stored)
        if highest >= self._blocks:
            detail = f"the block map piece at offset {offset} names block {highest}"
            raise _structure(f"{detail}, beyond the {self._blocks} blocks of the image")
        if self._highest_block is None or highest > self._highest_block:
            self._highest_block = highest

    def _finish(self) -> DiskInfo:
        self._reader.check_complete()
        size = self.size
        if self._highest_block is not None:
            start = self._data_offset + self._highest_block * BLOCK_SIZE
            if start + BLOCK_SIZE > size:
                where = f"block {self._highest_block} at offset {start} (1 MiB)"
                raise DiskImageRejected("truncated", past_the_end(where, size))
        return DiskInfo(DiskFormat.VDI, self._virtual_size)
