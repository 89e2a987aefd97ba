"""Which disk a stream is, decided from its bytes (never a file name), and its inspection.

``DetectingInspector`` keeps the first ``DECIDE_LEN`` bytes, recognises the format by its signature, then
hands those bytes and every later one to that format's own streaming inspector. The caller's declared
format (None: detect) must agree with the bytes, and the format must be one the operator accepts.

Bytes with no leading signature are a fixed VHD when they end with a valid VHD footer, a raw disk when
raw was declared (``RawInspector``: today's refusals of another format sent as raw), and else refused as
not a disk (``not_qcow2``, the code SCP clients have always got for such bytes).
"""

from __future__ import annotations

from collections.abc import Callable

from scp_images.domain.disk_formats import DiskFormat, is_converted
from scp_images.domain.errors import DiskImageRejected
from scp_images.formats._signatures import TAIL_LEN, describe_foreign, foreign_format
from scp_images.formats.disk import DiskInfo, DiskInspector
from scp_images.formats.ova import OvaInspector
from scp_images.formats.qcow2 import Qcow2Inspector
from scp_images.formats.raw import RawInspector
from scp_images.formats.vdi import VdiInspector
from scp_images.formats.vhd import VhdInspector, has_vhd_footer
from scp_images.formats.vhdx import VhdxInspector
from scp_images.formats.vmdk import VmdkInspector

# Enough to see every leading signature: a tar's 'ustar' magic sits at 257.
DECIDE_LEN = 512

QCOW2_MAGIC = b"QFI\xfb"
VDI_SIGNATURE_AT = 64
VDI_SIGNATURE = (0xBEDA107F).to_bytes(4, "little")
USTAR_AT = 257

_NAMES = {
    DiskFormat.QCOW2: "a qcow2",
    DiskFormat.VMDK: "a VMDK disk",
    DiskFormat.OVA: "an OVA (tar) archive",
    DiskFormat.VHDX: "a VHDX disk",
    DiskFormat.VHD: "a VHD disk",
    DiskFormat.VDI: "a VDI disk",
    DiskFormat.RAW: "a raw disk",
}


def sniff(head: bytes) -> DiskFormat | None:
    """The format whose signature the leading bytes carry; None when they carry none we convert."""
    if head.startswith(QCOW2_MAGIC):
        return DiskFormat.QCOW2
    if head.startswith((b"KDMV", b"# Disk DescriptorFile")):
        return DiskFormat.VMDK
    if head.startswith(b"vhdxfile"):
        return DiskFormat.VHDX
    if head.startswith(b"conectix"):  # a dynamic VHD's copy of its footer
        return DiskFormat.VHD
    if head[VDI_SIGNATURE_AT : VDI_SIGNATURE_AT + 4] == VDI_SIGNATURE:
        return DiskFormat.VDI
    if head[USTAR_AT : USTAR_AT + 5] == b"ustar":
        return DiskFormat.OVA
    return None


class Qcow2Disk(DiskInspector):
    def __init__(self, *, max_virtual_size: int) -> None:
        self._inner = Qcow2Inspector(max_virtual_size=max_virtual_size)

    def feed(self, chunk: bytes) -> None:
        self._inner.feed(chunk)

    def finish(self) -> DiskInfo:
        return DiskInfo(DiskFormat.QCOW2, self._inner.finish().virtual_size)


class RawDisk(DiskInspector):
    def __init__(self, *, max_virtual_size: int) -> None:
        self._inner = RawInspector(max_virtual_size=max_virtual_size)

    def feed(self, chunk: bytes) -> None:
        self._inner.feed(chunk)

    def finish(self) -> DiskInfo:
        return DiskInfo(DiskFormat.RAW, self._inner.finish().virtual_size)


_INSPECTORS: dict[DiskFormat, Callable[..., DiskInspector]] = {
    DiskFormat.QCOW2: Qcow2Disk,
    DiskFormat.RAW: RawDisk,
    DiskFormat.VMDK: VmdkInspector,
    DiskFormat.OVA: OvaInspector,
    DiskFormat.VHDX: VhdxInspector,
    DiskFormat.VHD: VhdInspector,
    DiskFormat.VDI: VdiInspector,
}


class _Unsigned(DiskInspector):
    """Bytes without a leading signature: a fixed VHD (its footer at the end) or, if nothing else, not a
    disk. A VHD inspector reads along in case the footer turns up (None: VHD is not accepted)."""

    def __init__(self, vhd: DiskInspector | None, refusal: DiskImageRejected) -> None:
        self._refusal = refusal
        self._vhd = vhd
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        if self._vhd is not None:
            self._vhd.feed(chunk)
        self._tail = bytes(chunk[-TAIL_LEN:]) if len(chunk) >= TAIL_LEN else (self._tail + chunk)[-TAIL_LEN:]

    def finish(self) -> DiskInfo:
        if not has_vhd_footer(self._tail):
            raise self._refusal
        if self._vhd is None:
            raise DiskImageRejected(
                "format_not_accepted",
                f"the data is {_NAMES[DiskFormat.VHD]}, a format this service does not take",
            )
        return self._vhd.finish()


class DetectingInspector:
    """One stream's inspection, whatever its format; ``finish`` gives the ``DiskInfo`` (its
    ``disk_format`` says what was found) or raises ``DiskImageRejected``. ``stored_format``: the image's
    ``disk_format`` (what it stores unless the disk is converted: ``converted``)."""

    def __init__(
        self,
        *,
        declared: DiskFormat | None,
        accepted: frozenset[DiskFormat],
        max_virtual_size: int,
        stored_format: str = DiskFormat.QCOW2.value,
    ) -> None:
        self._declared = declared
        self._stored_format = stored_format
        self._accepted = accepted
        self._max_virtual_size = max_virtual_size
        self._head = bytearray()
        self._inner: DiskInspector | None = None
        self._chosen: DiskFormat | None = None

    def feed(self, chunk: bytes) -> None:
        if self._inner is not None:
            self._inner.feed(chunk)
            return
        self._head += chunk
        if len(self._head) >= DECIDE_LEN:
            self._start()

    def finish(self) -> DiskInfo:
        if self._inner is None:
            self._start()
        assert self._inner is not None
        info = self._inner.finish()
        self._require_accepted(info.disk_format)
        if self._declared is not None and info.disk_format is not self._declared:
            raise self._mismatch(info.disk_format)
        return info

    def _start(self) -> None:
        head = bytes(self._head)
        self._inner = self._choose(head)
        self._head = bytearray()
        if head:
            self._inner.feed(head)

    def _choose(self, head: bytes) -> DiskInspector:
        found = sniff(head)
        declared = self._declared
        if declared is DiskFormat.RAW:
            # Raw is what matches nothing else: RawInspector refuses the signatures it knows with today's
            # messages; the two it does not look for are refused here.
            if found in (DiskFormat.VDI, DiskFormat.OVA):
                raise self._mismatch(found)
            self._require_accepted(DiskFormat.RAW)
            return self._make(DiskFormat.RAW)
        if found is None:
            if foreign_format(head) is not None:  # LUKS, an archive: no disk we take, whatever was declared
                raise DiskImageRejected("not_qcow2", describe_foreign(head))
            if declared is DiskFormat.QCOW2:
                return self._make(DiskFormat.QCOW2)  # its own refusal, as today
            shown = head[:8].hex(" ") or "nothing"
            unsigned = DiskImageRejected(
                "not_qcow2",
                f"the data is no disk image in a format this service takes (it starts with {shown}: no "
                "qcow2, VMDK, OVA, VHDX, VHD or VDI signature, and no VHD footer at its end)",
            )
            if declared is not None:
                shown = head[:8].hex(" ") or "nothing"
                unsigned = DiskImageRejected(
                    "format_mismatch",
                    f"disk_format is {declared} but the data is no {declared} (it starts with {shown})",
                )
            if declared not in (None, DiskFormat.VHD):
                raise unsigned
            vhd = self._make(DiskFormat.VHD) if DiskFormat.VHD in self._accepted else None
            return _Unsigned(vhd, unsigned)
        self._require_accepted(found)
        if declared is not None and found is not declared:
            raise self._mismatch(found)
        return self._make(found)

    @property
    def converted(self) -> bool:
        """Whether the leading bytes already showed a disk that will be converted (VMDK, OVA, VHDX, VHD,
        VDI; raw declared on an image storing qcow2): the stream's digests will never be an image's, so
        the ingest can stop computing them. Bytes with no signature and no raw declared are a fixed VHD
        (its footer at the end) or refused: converted too."""
        return self._chosen is not None and is_converted(self._chosen, self._stored_format)

    def _make(self, disk_format: DiskFormat) -> DiskInspector:
        self._chosen = disk_format
        return _INSPECTORS[disk_format](max_virtual_size=self._max_virtual_size)

    def _require_accepted(self, found: DiskFormat) -> None:
        if found not in self._accepted:
            raise DiskImageRejected(
                "format_not_accepted", f"the data is {_NAMES[found]}, a format this service does not take"
            )

    def _mismatch(self, found: DiskFormat) -> DiskImageRejected:
        return DiskImageRejected(
            "format_mismatch", f"disk_format is {self._declared} but the data is {_NAMES[found]}"
        )
