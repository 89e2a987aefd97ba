"""Helpers for the qcow2 inspector tests: chunkers, a verdict recorder and a tiny qcow2 writer."""

from __future__ import annotations

import itertools
import json
import random
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scp_images.domain.errors import DiskImageRejected
from scp_images.formats import Qcow2Inspector
from tests.support.tools import run_tool

MAX_VIRTUAL_SIZE = 1 << 40

Outcome = tuple[str, object]


@dataclass
class Qemu:
    """Runs qemu-img/qemu-io in one scratch directory; relative paths are made inside it."""

    workdir: Path

    def path(self, name: str) -> Path:
        return self.workdir / name

    def img(self, *args: str) -> str:
        return self.run("qemu-img", *args)

    def io(self, *args: str) -> str:
        return self.run("qemu-io", *args)

    def create(self, name: str, size: str, *options: str, fmt: str = "qcow2") -> Path:
        self.img("create", "-q", "-f", fmt, *options, name, size)
        return self.path(name)

    def virtual_size(self, path: Path) -> int:
        info = json.loads(self.img("info", "--output=json", str(path)))
        return int(info["virtual-size"])

    def run(self, *args: str) -> str:
        """stdout; ``ToolFailed`` (a RuntimeError, with stderr) once retrying cannot help."""
        return run_tool(*args, cwd=self.workdir)


def chunked(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """Split ``data`` at the given offsets (any order, out-of-range ones ignored)."""
    points = sorted({cut for cut in cuts if 0 < cut < len(data)})
    edges = [0, *points, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(edges)]


def random_chunks(data: bytes, seed: int, byte_by_byte: int = 4096) -> list[bytes]:
    """One-byte feeds over the header region, then random sizes up to 256 KiB."""
    rng = random.Random(seed)
    chunks = [data[i : i + 1] for i in range(min(byte_by_byte, len(data)))]
    offset = len(chunks)
    while offset < len(data):
        size = rng.choice((1, 7, 511, 4096, 65536, rng.randint(1, 1 << 18)))
        chunks.append(data[offset : offset + size])
        offset += size
    return chunks


@dataclass(frozen=True)
class Verdict:
    """What the inspector said, and whether it said it before ``finish``."""

    outcome: Outcome
    during_feed: bool


def inspect(chunks: Sequence[bytes], max_virtual_size: int = MAX_VIRTUAL_SIZE) -> Verdict:
    inspector = Qcow2Inspector(max_virtual_size=max_virtual_size)
    try:
        for chunk in chunks:
            inspector.feed(chunk)
    except DiskImageRejected as refusal:
        return Verdict(("rejected", (refusal.reason, refusal.params["detail"])), True)
    try:
        header = inspector.finish()
    except DiskImageRejected as refusal:
        return Verdict(("rejected", (refusal.reason, refusal.params["detail"])), False)
    assert inspector.header == header
    return Verdict(("ok", header), False)


def reason_of(verdict: Verdict) -> str | None:
    kind, value = verdict.outcome
    return value[0] if kind == "rejected" else None  # type: ignore[index]


# --- a tiny qcow2 writer, independent of the code under test -------------------------------------
V2_LAYOUT = struct.Struct(">4sIQIIQIIQQIIQ")
V3_LAYOUT = struct.Struct(">QQQII")


@dataclass(frozen=True)
class Layout:
    """Field values for ``build_qcow2``; tables are placed after the header cluster."""

    version: int = 3
    cluster_bits: int = 16
    virtual_size: int = 1 << 30
    l1_size: int | None = None
    incompatible_features: int = 0
    compatible_features: int = 0
    autoclear_features: int = 0
    refcount_order: int = 4
    header_length: int = 112
    compression_type: int = 0
    extensions: tuple[tuple[int, bytes], ...] = ()


def l1_entries_for(layout: Layout) -> int:
    entry_bits = 4 if layout.incompatible_features & (1 << 4) else 3
    covered = 1 << (2 * layout.cluster_bits - entry_bits)
    return -(-layout.virtual_size // covered)


def build_qcow2(layout: Layout) -> bytes:
    """A file qemu would open: header cluster, refcount table, refcount block, then the L1 table."""
    cluster = 1 << layout.cluster_bits
    l1_size = l1_entries_for(layout) if layout.l1_size is None else layout.l1_size
    l1_offset = 3 * cluster
    header = _header_bytes(layout, l1_size, l1_offset, refcount_table=cluster)
    header += _extension_bytes(layout.extensions)
    assert len(header) + 8 <= cluster, "the extensions do not fit in the first cluster"
    body = header.ljust(cluster, b"\0") + bytes(2 * cluster)
    return body + bytes(max(l1_size * 8, 1))


def _header_bytes(layout: Layout, l1_size: int, l1_offset: int, refcount_table: int) -> bytes:
    base = V2_LAYOUT.pack(
        b"QFI\xfb", layout.version, 0, 0, layout.cluster_bits, layout.virtual_size, 0,
        l1_size, l1_offset, refcount_table, 1, 0, 0,
    )  # fmt: skip
    if layout.version == 2:
        return base
    extra = V3_LAYOUT.pack(
        layout.incompatible_features, layout.compatible_features, layout.autoclear_features,
        layout.refcount_order, layout.header_length,
    )  # fmt: skip
    tail = bytes([layout.compression_type]) if layout.header_length > 104 else b""
    return (base + extra + tail).ljust(layout.header_length, b"\0")


def _extension_bytes(extensions: Iterable[tuple[int, bytes]]) -> bytes:
    out = b""
    for ext_type, payload in extensions:
        padded = payload.ljust(-(-len(payload) // 8) * 8, b"\0")
        out += struct.pack(">II", ext_type, len(payload)) + padded
    return out


def patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """``data`` with the big-endian field at ``offset`` set to ``value``."""
    field = struct.pack(">" + fmt, value)
    return data[:offset] + field + data[offset + len(field) :]
