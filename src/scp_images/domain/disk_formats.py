"""The disk formats a caller may send, and what is stored.

What is stored is qcow2, except a raw disk created through the OpenStack edge with ``disk_format: raw``
(stored as it is). Every other accepted format is converted into qcow2 by a job after its bytes passed
our own inspector (``formats/``); ``qemu-img`` only ever sees a file that passed, with its input format
named (``QEMU_DRIVER``), never probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DiskFormat(StrEnum):
    QCOW2 = "qcow2"
    RAW = "raw"
    VMDK = "vmdk"  # monolithicSparse or streamOptimized, alone
    OVA = "ova"  # a tar holding one .ovf and the one VMDK it names
    VHDX = "vhdx"
    VHD = "vhd"  # Glance's and SCP's name; qemu's driver is ``vpc``
    VDI = "vdi"


# Stored as received (after inspection): no conversion job.
STORED_AS_IS = frozenset({DiskFormat.QCOW2, DiskFormat.RAW})
# Converted into qcow2 by a conversion job.
CONVERTED = frozenset({DiskFormat.VMDK, DiskFormat.OVA, DiskFormat.VHDX, DiskFormat.VHD, DiskFormat.VDI})
# Every format accepted by default (the operator's setting may narrow it).
ALL_ACCEPTED = frozenset(DiskFormat)


def is_converted(found: DiskFormat, stored_format: str) -> bool:
    """Whether a disk found to be ``found`` is converted into qcow2 on an image whose ``disk_format`` is
    ``stored_format``: it is stored as it is only in a format the service stores that is also the one the
    image says it stores (qcow2; raw on an OpenStack image of raw)."""
    return found not in STORED_AS_IS or found.value != stored_format


# The ``-f`` given to ``qemu-img convert`` for each input (an OVA's disk is its VMDK).
QEMU_DRIVER: dict[DiskFormat, str] = {
    DiskFormat.RAW: "raw",
    DiskFormat.VMDK: "vmdk",
    DiskFormat.OVA: "vmdk",
    DiskFormat.VHDX: "vhdx",
    DiskFormat.VHD: "vpc",
    DiskFormat.VDI: "vdi",
}


def parse_formats(text: str) -> frozenset[DiskFormat]:
    """A comma-separated list of format names (a setting); raises ValueError naming a bad one."""
    formats: set[DiskFormat] = set()
    for name in (part.strip().lower() for part in text.split(",")):
        if not name:
            continue
        try:
            formats.add(DiskFormat(name))
        except ValueError:
            known = ", ".join(f.value for f in DiskFormat)
            raise ValueError(f"unknown disk format {name[:20]!r}: use some of {known}") from None
    if DiskFormat.QCOW2 not in formats:
        raise ValueError("qcow2 must stay accepted: it is what the service stores")
    return frozenset(formats)


@dataclass(frozen=True, slots=True)
class OriginalDisk:
    """The disk as the caller sent it, when it was converted: kept on the job and on the image (the
    import status shows it; the OpenStack edge shows it as read-only ``original_*`` attributes).

    ``sha512`` is None until it is known: a disk that is converted is not hashed while it uploads (the
    conversion job hashes the whole original while ``qemu-img`` runs), so a job shows it once that ends
    and an active image always has it."""

    disk_format: str  # a ``DiskFormat`` value (``ova`` for an OVA)
    size: int
    sha512: str | None = None  # hex; None while the conversion has not computed it yet
