"""Small disks in the formats the service converts, made by ``qemu-img`` from a qcow2 with known data, and
a delta VMDK that must be refused (what ``qemu-img create -f vmdk -b BASE -F vmdk`` writes)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.support.tools import ToolFailed, run_tool

# qemu-img's output format and options for each of our input formats (VHD is qemu's ``vpc``).
QEMU_OUTPUT: dict[str, tuple[str, ...]] = {
    "vmdk": ("-O", "vmdk", "-o", "subformat=streamOptimized"),
    "vhdx": ("-O", "vhdx"),
    "vhd": ("-O", "vpc"),
    "vdi": ("-O", "vdi"),
    "raw": ("-O", "raw"),
}


def source_qcow2(directory: Path, size: str = "4M") -> Path:
    """A qcow2 with two known patterns written in it."""
    path = directory / "source.qcow2"
    run_tool("qemu-img", "create", "-q", "-f", "qcow2", str(path), size)
    run_tool("qemu-io", "-c", "write -P 0x5a 0 1M", "-c", "write -P 0xa5 2M 512k", str(path))
    return path


def disk_as(source: Path, disk_format: str, name: str) -> Path:
    """``source`` converted into ``disk_format`` next to it, named ``name`` (the name says nothing)."""
    path = source.with_name(name)
    run_tool("qemu-img", "convert", "-q", "-f", "qcow2", *QEMU_OUTPUT[disk_format], str(source), str(path))
    return path


def delta_vmdk(directory: Path) -> Path:
    """A VMDK delta disk naming its parent (``parentFileNameHint``): refused with ``vmdk_parent``."""
    base = directory / "base.vmdk"
    run_tool("qemu-img", "create", "-q", "-f", "vmdk", str(base), "4M")
    delta = directory / "delta.vmdk"
    run_tool("qemu-img", "create", "-q", "-f", "vmdk", "-b", str(base), "-F", "vmdk", str(delta))
    return delta


def identical(stored: Path, source: Path) -> bool:
    """``qemu-img compare`` says the two disks hold the same data."""
    try:
        run_tool("qemu-img", "compare", "-q", str(stored), str(source))
    except ToolFailed:
        return False
    return True


def sha512_of(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
