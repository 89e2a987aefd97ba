"""Helpers for the VMDK and OVA inspector tests: judge bytes under any chunking, edit files."""

from __future__ import annotations

import json
import struct
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

from scp_images.domain.errors import DiskImageRejected
from scp_images.formats.disk import DiskInfo
from scp_images.formats.ova import OvaInspector
from scp_images.formats.vmdk import VmdkInspector
from tests.formats.helpers import chunked, random_chunks
from tests.support.tools import run_tool

CEILING = 1 << 40
Outcome = tuple[str, object]
Inspector = Callable[..., VmdkInspector | OvaInspector]


def judge(chunks: Sequence[bytes], kind: Inspector = VmdkInspector, ceiling: int = CEILING) -> Outcome:
    """("ok", DiskInfo) or ("rejected", (reason, detail))."""
    inspector = kind(max_virtual_size=ceiling)
    try:
        for chunk in chunks:
            inspector.feed(chunk)
        return ("ok", inspector.finish())
    except DiskImageRejected as refusal:
        return ("rejected", (refusal.reason, refusal.params["detail"]))


def chunkings(data: bytes) -> list[list[bytes]]:
    """The whole file at once, one byte at a time over the first 16 KiB, sector-straddling cuts."""
    return [
        [data],
        random_chunks(data, seed=1, byte_by_byte=16384),
        random_chunks(data, seed=2, byte_by_byte=0),
        chunked(data, range(511, len(data), 4099)),
    ]


def same_verdict(data: bytes, kind: Inspector = VmdkInspector, ceiling: int = CEILING) -> Outcome:
    """The verdict, asserted equal under every chunking of ``chunkings``."""
    outcomes = [judge(chunks, kind, ceiling) for chunks in chunkings(data)]
    assert all(outcome == outcomes[0] for outcome in outcomes), outcomes
    return outcomes[0]


def reason(outcome: Outcome) -> str | None:
    kind, value = outcome
    return value[0] if kind == "rejected" else None  # type: ignore[index]


def info(outcome: Outcome) -> DiskInfo:
    kind, value = outcome
    assert kind == "ok", value
    assert isinstance(value, DiskInfo)
    return value


def qemu_virtual_size(path: Path, fmt: str = "vmdk") -> int:
    return int(
        json.loads(run_tool("qemu-img", "info", "--output=json", "-f", fmt, str(path)))["virtual-size"]
    )


def put(data: bytes, offset: int, fmt: str, *values: int | bytes) -> bytes:
    """``data`` with little-endian fields packed at ``offset``."""
    packed = struct.pack("<" + fmt, *values)
    return data[:offset] + packed + data[offset + len(packed) :]


def with_descriptor(data: bytes, text: str) -> bytes:
    """``data`` (a qemu-img sparse VMDK, descriptor at sector 1, 20 sectors) with another descriptor."""
    area = text.encode().ljust(20 * 512, b"\0")
    assert len(area) == 20 * 512
    return data[:512] + area + data[512 + len(area) :]


def descriptor_of(data: bytes) -> str:
    return data[512 : 512 * 21].split(b"\0", 1)[0].decode()


def largest_retained(inspector: VmdkInspector | OvaInspector, data: bytes, piece: int = 1 << 20) -> int:
    """Feed ``data`` in pieces; the most memory the inspector's code held between two feeds (bytes
    allocated in ``scp_images/formats`` and still alive: other threads' allocations do not count)."""
    view = memoryview(data)
    only_formats = [tracemalloc.Filter(True, "*scp_images/formats/*")]
    largest = 0
    tracemalloc.start()
    try:
        for start in range(0, len(data), piece):
            inspector.feed(view[start : start + piece])
            snapshot = tracemalloc.take_snapshot().filter_traces(only_formats)
            largest = max(largest, sum(stat.size for stat in snapshot.statistics("filename")))
    finally:
        tracemalloc.stop()
    return largest
