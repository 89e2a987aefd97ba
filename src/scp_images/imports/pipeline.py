"""One streaming pass over image bytes: size, md5, sha512, disk inspection and the blob write.

The hashes and the blob write each run on their own thread fed by a small bounded queue: hashlib
releases the GIL on large buffers, so md5, sha512 and I/O overlap while memory stays at a few
chunks whatever the image size. Nothing is committed here; the caller commits the writer only
after the result is known to be good (stage, verify, then move). A disk that will be converted is
not hashed at all: neither digest of its bytes is an image's, and its conversion job computes the
original's sha512 while ``qemu-img`` runs (``services/data/convert.py``).
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from scp_images.domain.errors import DiskImageRejected
from scp_images.formats.detect import Qcow2Disk, RawDisk
from scp_images.formats.disk import DiskInfo, DiskInspector
from scp_images.store.blob.base import BlobWriter

_QUEUE_DEPTH = 8
_STOP = object()


@dataclass(frozen=True, slots=True)
class IngestResult:
    size: int
    checksum: str | None  # None (and os_hash_value too) for a disk to convert: its bytes were not hashed
    os_hash_algo: str
    os_hash_value: str | None
    virtual_size: int
    # What the inspection found (its format, and for an OVA where its disk lies in the tar).
    disk: DiskInfo | None = None
    staged: bool = False  # kept as a job's original for its conversion (not stored as the image yet)


class IngestCancelled(Exception):
    """The caller asked the pipeline to stop (for instance the image was deleted)."""


class Lane:
    """A consumer thread applying ``consume`` to every chunk, remembering the first error. ``close``
    (always call it) lets it finish what is queued and joins it."""

    def __init__(self, name: str, consume: Callable[[bytes], Any]) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_DEPTH)
        self._consume = consume
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not _STOP:
            if self.error is None:
                try:
                    self._consume(chunk)
                except BaseException as exc:
                    self.error = exc

    def put(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()


def _raise_lane_errors(lanes: Iterable[Lane]) -> None:
    for lane in lanes:
        if lane.error is not None:
            raise lane.error


def ingest(
    chunks: Iterable[bytes],
    writer: BlobWriter,
    *,
    max_bytes: int,
    max_virtual_size: int,
    progress: Callable[[int], None] | None = None,
    disk_format: str = "qcow2",
    inspector: DiskInspector | None = None,
) -> IngestResult:
    """Consume ``chunks`` once; returns sizes and digests or raises ``DiskImageRejected``. The bytes are
    judged by ``inspector`` (``formats.detect.DetectingInspector``: any accepted format), or else as
    ``disk_format`` (qcow2, or raw: any bytes that are not another format)."""
    md5, sha512 = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    if inspector is None:  # today's judgement of one stored format, its refusals unchanged
        stored = RawDisk if disk_format == "raw" else Qcow2Disk
        inspector = stored(max_virtual_size=max_virtual_size)
    hash_lanes = [Lane("md5", md5.update), Lane("sha512", sha512.update)]
    lanes = [*hash_lanes, Lane("blob-write", writer.write)]
    hashed = True
    size = 0
    try:
        for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if size > max_bytes:
                raise DiskImageRejected(
                    "too_large", f"the image is larger than the limit of {max_bytes} bytes"
                )
            inspector.feed(chunk)
            if hashed and getattr(inspector, "converted", False):
                # A disk to convert: the output's digests are the image's, and the conversion hashes the
                # original beside qemu-img (the other core), so the upload spends no core on hashing.
                hashed = False
                for lane in hash_lanes:
                    lanes.remove(lane)
                    lane.close()
            for lane in lanes:
                lane.put(chunk)
            _raise_lane_errors(lanes)
            if progress is not None:
                progress(size)
    finally:
        for lane in lanes:
            lane.close()
    _raise_lane_errors(lanes)
    info = inspector.finish()
    checksum, digest = (md5.hexdigest(), sha512.hexdigest()) if hashed else (None, None)
    return IngestResult(size, checksum, "sha512", digest, info.virtual_size, info)


def read_file_chunks(path: str, chunk_size: int = 1 << 20) -> Iterable[bytes]:
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(chunk_size):
            yield chunk
