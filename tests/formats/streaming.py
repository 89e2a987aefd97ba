"""Feeding the VHD, VHDX and VDI inspectors: several chunkings of one file, and what the inspector said."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from scp_images.domain.errors import DiskImageRejected
from scp_images.formats.disk import DiskInfo
from scp_images.formats.vdi import VdiInspector
from scp_images.formats.vhd import VhdInspector
from scp_images.formats.vhdx import VhdxInspector
from tests.formats.helpers import chunked, random_chunks
from tests.support.tools import run_tool

MAX_VIRTUAL_SIZE = 1 << 40
INSPECTORS: dict[str, Callable[..., VhdInspector | VhdxInspector | VdiInspector]] = {
    "vhd": VhdInspector,
    "vhdx": VhdxInspector,
    "vdi": VdiInspector,
}
Outcome = tuple[str, object]


def inspect(kind: str, chunks: Iterable[bytes], max_virtual_size: int = MAX_VIRTUAL_SIZE) -> Outcome:
    """("ok", DiskInfo) or ("rejected", (reason, detail))."""
    inspector = INSPECTORS[kind](max_virtual_size=max_virtual_size)
    try:
        for chunk in chunks:
            inspector.feed(chunk)
        info = inspector.finish()
    except DiskImageRejected as refusal:
        return ("rejected", (refusal.reason, refusal.params["detail"]))
    assert isinstance(info, DiskInfo)
    return ("ok", info)


def chunkings(data: bytes) -> list[list[bytes]]:
    """Whole, in odd sizes, byte by byte over the first structures then random, and cut at every MiB."""
    return [
        [data],
        chunked(data, range(0, len(data), 4093)),
        random_chunks(data, seed=len(data), byte_by_byte=2048),
        chunked(data, range(0, len(data), 1 << 20)),
    ]


def same_verdict_however_chunked(kind: str, data: bytes, max_virtual_size: int = MAX_VIRTUAL_SIZE) -> Outcome:
    outcomes = [inspect(kind, chunks, max_virtual_size) for chunks in chunkings(data)]
    assert all(outcome == outcomes[0] for outcome in outcomes), outcomes
    return outcomes[0]


def qemu_virtual_size(path: Path, driver: str) -> int:
    """What qemu-img says, with the driver named (a fixed VHD has no signature qemu could probe)."""
    info = json.loads(run_tool("qemu-img", "info", "-f", driver, "--output=json", str(path)))
    return int(info["virtual-size"])
