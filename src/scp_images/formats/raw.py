"""``raw`` disks: stored as given, but refused when their bytes are in fact another format (a qcow2, VMDK,
VHD(X), ISO, LUKS volume or an archive), as Glance's ``require_image_format_match`` does. A qcow2 sent as
raw would be booted as a raw disk whose "contents" are a qcow2 header: a format confusion that can expose
a backing file on the host; refusing it keeps each format's safety checks in force."""

from __future__ import annotations

from dataclasses import dataclass

from scp_images.domain.errors import DiskImageRejected

from ._signatures import (
    ISO_REGION_END,
    TAIL_LEN,
    check_iso_descriptor,
    check_vhd_footer,
    foreign_format,
)

QCOW2_MAGIC = b"QFI\xfb"


@dataclass(frozen=True)
class RawInfo:
    virtual_size: int  # a raw disk is as large as its bytes


class RawInspector:
    """Keeps the leading bytes up to the ISO descriptors and the last 512 bytes; judged at the end."""

    def __init__(self, *, max_virtual_size: int) -> None:
        self._max_virtual_size = max_virtual_size
        self._prefix = bytearray()
        self._tail = b""
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if len(self._prefix) < ISO_REGION_END:
            self._prefix += memoryview(chunk)[: ISO_REGION_END - len(self._prefix)]
        self._tail = bytes(chunk[-TAIL_LEN:]) if len(chunk) >= TAIL_LEN else (self._tail + chunk)[-TAIL_LEN:]

    def finish(self) -> RawInfo:
        head = bytes(self._prefix)
        if head.startswith(QCOW2_MAGIC):
            raise DiskImageRejected("format_mismatch", "disk_format is raw but the data is a qcow2")
        foreign = foreign_format(head)
        if foreign is not None:
            raise DiskImageRejected("format_mismatch", f"disk_format is raw but the data is {foreign}")
        try:
            check_iso_descriptor(head)
            check_vhd_footer(self._tail)
        except DiskImageRejected as exc:
            detail = str(exc.params["detail"]).replace("the file is also", "the data is")
            raise DiskImageRejected("format_mismatch", f"disk_format is raw but {detail}") from None
        if self._size > self._max_virtual_size:
            raise DiskImageRejected(
                "virtual_size_too_large",
                f"the disk is larger than the limit of {self._max_virtual_size} bytes",
            )
        return RawInfo(self._size)
