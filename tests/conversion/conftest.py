"""Fixtures for the converter tests: a private job directory, real disks made by qemu-img, a logging
qemu-img (``tests/support/qemu_wrapper.py``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.qemu_wrapper import write_wrapper
from tests.support.tools import require_qemu, run_tool

MiB = 1 << 20

# (qemu-img's output format, its -o options) of each kind of disk the converter is given.
DISKS: dict[str, tuple[str, str]] = {
    "vmdk-streamOptimized": ("vmdk", "subformat=streamOptimized"),
    "vmdk-monolithicSparse": ("vmdk", "subformat=monolithicSparse"),
    "vhd-dynamic": ("vpc", "subformat=dynamic"),
    "vhd-fixed": ("vpc", "subformat=fixed"),
    "vhdx-dynamic": ("vhdx", "subformat=dynamic"),
    "vdi-normal": ("vdi", "static=off"),
    "raw": ("raw", ""),
}


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    """A directory like the ones ``ConversionHost.workspace`` makes (ours, mode 0700)."""
    path = tmp_path / "job"
    path.mkdir(mode=0o700)
    return path


def known_raw(path: Path, size: int = 16 * MiB) -> Path:
    """A raw disk of ``size`` bytes with known data: random MiBs at a few offsets, zeros elsewhere."""
    chunks = {0: os.urandom(MiB), 5 * MiB: os.urandom(MiB), size - MiB: os.urandom(MiB // 2)}
    with open(path, "wb") as out:
        out.truncate(size)
        for offset, data in chunks.items():
            out.seek(offset)
            out.write(data)
    return path


@pytest.fixture
def make_disk(tmp_path: Path) -> Callable[..., Path]:
    """``make_disk(kind, directory, size)``: a real disk of one of ``DISKS`` made by qemu-img from a raw
    file of known data, written into ``directory`` (the job directory) as ``input``."""
    require_qemu()

    def make(kind: str, directory: Path, size: int = 16 * MiB) -> Path:
        driver, options = DISKS[kind]
        raw = known_raw(tmp_path / f"{kind}.raw", size)
        target = directory / "input"
        extra = ["-o", options] if options else []
        run_tool("qemu-img", "convert", "-q", "-f", "raw", "-O", driver, *extra, str(raw), str(target))
        return target

    return make


@pytest.fixture
def wrapper(tmp_path: Path) -> tuple[Path, Path]:
    """(a logging qemu-img, its log)."""
    require_qemu()
    log = tmp_path / "qemu-calls.jsonl"
    return write_wrapper(tmp_path / "bin", log), log
