"""Converting a staged original into qcow2: the job an upload or URL import of a VMDK, OVA, VHDX, VHD or VDI
hands to a runner once the bytes were received, inspected and committed as the job's original.

One attempt, under the job's fence and holding one of the host's conversion slots: copy the original (an
OVA: its disk's byte range only) into a private job directory, run ``qemu-img convert`` on it with the
input format named and the process walled in (``conversion/qemu.py``), then stream the output through the
same ingest as any upload (qcow2 inspection, md5, sha512, quota, blob write) and activate the image with its
original's format, size and sha512. The job's phase and percent are written with its heartbeat; a job that
is no longer this attempt's stops ``qemu-img``. Whatever happens the job directory is removed; a refusal
or failure ends the image ``killed`` and removes the original; a crash leaves the original owned by the
job, and the attempt that takes it over starts again from it.

The original's sha512 (of the whole file as sent: a whole OVA) is not computed while it uploads: a copy
of the whole original hashes it on the way, else (a hard link, an OVA's member copied) a thread reads the
original while ``qemu-img`` runs on the other core (``blob_digest.py``), joined before activation. Every
attempt computes it again unless the job row has it, so a takeover needs nothing of the dead process.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from scp_images.conversion.host import ConversionHost, Slot
from scp_images.conversion.qemu import (
    ConversionCancelled,
    ConvertLimits,
    convert_to_qcow2,
    qcow2_output_ceiling,
)
from scp_images.domain.audit import AuditAction
from scp_images.domain.disk_formats import QEMU_DRIVER, DiskFormat, OriginalDisk
from scp_images.domain.errors import DiskImageRejected, DomainError
from scp_images.domain.failures import failure_reason
from scp_images.domain.image import ImageStatus
from scp_images.domain.jobs import ImportJob, ImportPhase, JobFence
from scp_images.formats.detect import Qcow2Disk
from scp_images.imports.pipeline import IngestCancelled, IngestResult, Lane, ingest, read_file_chunks
from scp_images.services import audit
from scp_images.services.audit import AuditContext
from scp_images.services.clock import Clock, system_clock
from scp_images.services.data.blob_digest import BlobDigest
from scp_images.services.data.ingest import ImportReleased, ImportSuperseded, IngestService, new_blob_key
from scp_images.services.quotas import QuotaService
from scp_images.store.blob.base import BlobStore, BlobWriter, LinksLocally, WriterBase
from scp_images.store.sql import imports as job_store
from scp_images.store.sql.database import Database

log = logging.getLogger("scp_images.services.convert")

_COPY_CHUNK = 4 << 20
_JOIN_POLL = 0.2  # how often waiting for the original's digest beats (and hears a cancel)


@dataclass(frozen=True, slots=True)
class ConversionSettings:
    qemu_img: str = "qemu-img"
    timeout_seconds: float = 3600.0
    memory_bytes: int = 2 << 30
    heartbeat_seconds: float = 2.0


class _Beat:
    """The attempt's heartbeat while it converts: writes the phase and percent at most every
    ``interval`` seconds; notes when the job was lost or the process is stopping (``qemu-img`` is then
    cancelled by ``cancelled``; the copy and the output's ingest raise at once)."""

    def __init__(
        self, db: Database, fence: JobFence, clock: Clock, interval: float, stopping: threading.Event
    ) -> None:
        self._db, self._fence, self._clock, self._interval = db, fence, clock, interval
        self._stopping = stopping
        self._last = 0.0
        self.phase = ImportPhase.CONVERTING
        self.percent: int | None = 0
        self.lost = False

    def set(self, phase: ImportPhase, percent: int | None) -> None:
        self.phase, self.percent = phase, percent
        self._write()

    def progress(self, percent: int) -> None:
        self.percent = percent

    def tick(self) -> None:
        """Beat if it is time; raise when this attempt must stop."""
        if self._stopping.is_set():
            raise ImportReleased(self._fence.image_id)
        if time.monotonic() - self._last >= self._interval:
            self._write()
        if self.lost:
            raise IngestCancelled(self._fence.image_id)

    def cancelled(self) -> bool:
        if self._stopping.is_set():
            return True
        if time.monotonic() - self._last >= self._interval:
            self._write()
        return self.lost

    def _write(self) -> None:
        self._last = time.monotonic()
        with self._db.transaction() as conn:
            if not job_store.set_phase(conn, self._fence, self._clock(), self.phase, self.percent):
                self.lost = True


class ConversionService:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        ingest: IngestService,
        quotas: QuotaService,
        host: ConversionHost,
        settings: ConversionSettings,
        *,
        max_bytes: int,
        max_virtual_size: int,
        clock: Clock = system_clock,
        discard: Callable[[str], None] = lambda key: None,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._ingest = ingest
        self._quotas = quotas
        self.host = host
        self._settings = settings
        self._max_bytes = max_bytes
        self._max_virtual_size = max_virtual_size
        self._clock = clock
        self._discard = discard  # removes a key no row owns any more (the fresh check applies)

    def try_slot(self) -> Slot | None:
        return self.host.try_slot()

    def run(self, job: ImportJob, slot: Slot, stopping: threading.Event) -> None:
        """Convert the claimed ``job``'s original while holding ``slot`` (released at the end)."""
        with slot:
            self._run(job, stopping)

    def hand_back(self, fence: JobFence, detail: str) -> None:
        """Give a claimed job back, pending, without counting the attempt (no slot, or shutting down)."""
        with self._db.transaction() as conn:
            if job_store.release(conn, fence):
                audit.record_change(
                    conn,
                    audit.worker(fence.worker),
                    self._clock(),
                    AuditAction.IMPORT_REQUEUE,
                    image_id=fence.image_id,
                    detail=detail,
                )

    def _run(self, job: ImportJob, stopping: threading.Event) -> None:
        fence = job.fence
        context = audit.worker(fence.worker)
        log.info("conversion of image %s started (attempt %d)", job.image_id, job.attempts)
        try:
            self._convert(job, fence, context, stopping)
        except (IngestCancelled, ImportSuperseded, ConversionCancelled) as exc:
            if isinstance(exc, ConversionCancelled) and stopping.is_set():
                self.hand_back(fence, "handed back: its writer is shutting down")
            return  # else: no longer ours; the original belongs to the job and whoever runs it now
        except ImportReleased:
            self.hand_back(fence, "handed back: its writer is shutting down")
            return
        except Exception as exc:
            received = job.original.size if job.original else 0
            self._ingest.settle(fence, ImageStatus.KILLED, failure_reason(exc), context, exc, received)
            if not isinstance(exc, DomainError):
                log.exception("conversion of image %s failed", job.image_id)
        if job.original_key is not None:
            self._discard(job.original_key)  # only once no job names it (a failure's settle cleared it)

    def _convert(
        self, job: ImportJob, fence: JobFence, context: AuditContext, stopping: threading.Event
    ) -> None:
        original, key, virtual_size = job.original, job.original_key, job.original_virtual_size
        assert original is not None and key is not None and virtual_size is not None
        deadline = time.monotonic() + self._settings.timeout_seconds
        disk_format = DiskFormat(original.disk_format)
        offset, length = 0, original.size
        if disk_format is DiskFormat.OVA:
            assert job.member_offset is not None and job.member_size is not None
            offset, length = job.member_offset, job.member_size
        beat = _Beat(self._db, fence, self._clock, self._settings.heartbeat_seconds, stopping)
        beat.set(ImportPhase.CONVERTING, 0)
        ceiling = qcow2_output_ceiling(virtual_size)
        # The hashing thread (if any) is stopped and joined before the job directory goes.
        with self.host.workspace(length + ceiling) as workdir, ExitStack() as hashing:
            source, target = workdir / "input", workdir / "output.qcow2"
            sha512 = self._bring_in(key, original, offset, length, source, beat, hashing)
            limits = ConvertLimits(
                output_max_bytes=ceiling,
                address_space_bytes=self._settings.memory_bytes,
                cpu_seconds=max(1, int(self._settings.timeout_seconds)),
                wall_seconds=self._settings.timeout_seconds,
            )
            convert_to_qcow2(
                self._settings.qemu_img,
                source,
                QEMU_DRIVER[disk_format],
                target,
                limits,
                progress=beat.progress,
                cancelled=beat.cancelled,
            )
            if beat.lost:
                raise IngestCancelled(job.image_id)
            source.unlink()  # its space is free again while the output is stored
            beat.set(ImportPhase.HASHING, None)
            self._store(fence, target, original, context, beat, lambda: self._joined(sha512, beat, deadline))

    def _bring_in(
        self,
        key: str,
        original: OriginalDisk,
        offset: int,
        length: int,
        path: Path,
        beat: _Beat,
        hashing: ExitStack,
    ) -> str | BlobDigest:
        """The original's bytes (an OVA's disk member only) into the job directory, and its sha512: known
        already (the job row has it), hashed by the copy of the whole original, or (a hard link, an OVA's
        member) computed by a thread entered into ``hashing`` that reads the original while qemu-img runs.
        A whole original on the filesystem store is hard-linked (no copy, no second space)."""
        whole = offset == 0 and length == self._blobs.size(key)
        linked = whole and isinstance(self._blobs, LinksLocally) and self._blobs.link_into(key, path)
        if linked:
            beat.tick()
        if original.sha512 is not None:
            if not linked:
                self._copy(key, offset, length, path, beat)
            return original.sha512
        if whole and not linked:
            return self._copy_hashed(key, length, path, beat)
        digest = hashing.enter_context(BlobDigest(self._blobs, key, original.size))
        if not linked:
            self._copy(key, offset, length, path, beat)
        return digest

    def _copy_hashed(self, key: str, length: int, path: Path, beat: _Beat) -> str:
        """Copy the whole original, its sha512 computed on the way by a thread of its own."""
        digest = hashlib.sha512()
        lane = Lane("original-sha512", digest.update)
        try:
            self._copy(key, 0, length, path, beat, also=lane.put)
        finally:
            lane.close()
        if lane.error is not None:
            raise lane.error
        return digest.hexdigest()

    def _copy(
        self,
        key: str,
        offset: int,
        length: int,
        path: Path,
        beat: _Beat,
        also: Callable[[bytes], None] | None = None,
    ) -> None:
        """``length`` bytes of the original from ``offset`` into ``path``, beating as it goes; ``also``
        gets every chunk too."""
        copied = 0
        chunks = self._blobs.read(key, offset=offset, length=length, chunk_size=_COPY_CHUNK)
        try:
            with path.open("xb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    if also is not None:
                        also(chunk)
                    copied += len(chunk)
                    beat.tick()
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if copied != length:
            raise DiskImageRejected(
                "conversion_failed", f"the staged original holds {copied} bytes where {length} were expected"
            )

    def _joined(self, sha512: str | BlobDigest, beat: _Beat, deadline: float) -> str:
        """The original's sha512, waiting for its thread while beating (a cancel or a lost job stops the
        wait at once) no longer than the conversion's time limit."""
        if isinstance(sha512, str):
            return sha512
        while not sha512.wait(_JOIN_POLL):
            beat.tick()
            if time.monotonic() >= deadline:
                raise DiskImageRejected(
                    "conversion_timeout",
                    f"the conversion did not finish within {self._settings.timeout_seconds:.0f} seconds "
                    "(reading the original to compute its SHA-512) and was stopped",
                )
        return sha512.hexdigest()

    def _store(
        self,
        fence: JobFence,
        output: Path,
        original: OriginalDisk,
        context: AuditContext,
        beat: _Beat,
        original_sha512: Callable[[], str],
    ) -> None:
        out_key = new_blob_key(fence.image_id)
        with self._db.transaction() as conn:
            if not job_store.set_staging_key(conn, fence, out_key, self._clock()):
                raise IngestCancelled(fence.image_id)
        heartbeat = self._ingest.heartbeat(fence, self._settings.heartbeat_seconds)

        def progress(stored: int) -> None:
            # The job's bytes_read stays what was received: the import status compares it with
            # bytes_total, the original's size; the phase says where the output's storing is.
            beat.tick()
            heartbeat(original.size)

        if isinstance(self._blobs, LinksLocally) and self._blobs.adopt(out_key, output, durable=False):
            # The output becomes the blob by a link (no copy, no third file on disk); it is only read
            # here, hashed and inspected, while a thread writes it to the disk (its fsync took 0.4 s
            # of a 1 GiB output's storing), and the blob goes if either fails. It is durable before the
            # image is activated: the pool's exit waits for the sync, whose error is raised.
            try:
                with ThreadPoolExecutor(max_workers=1, thread_name_prefix="output-sync") as pool:
                    synced = pool.submit(self._blobs.sync, out_key)
                    result = self._inspected_output(fence, output, _NoWrites(out_key), original, progress)
                    synced.result()
            except BaseException:
                self._blobs.delete(out_key)
                raise
        else:
            with self._blobs.writer(out_key) as writer:
                result = self._inspected_output(fence, output, writer, original, progress)
                writer.commit()
        try:
            known = replace(original, sha512=original_sha512())
            if original.sha512 is None:
                self._record_sha512(fence, known)
            beat.set(ImportPhase.STORING, None)
            extra = {
                "disk_format": DiskFormat.QCOW2.value,
                "container_format": "bare",
                "original_disk_format": known.disk_format,
                "original_size": known.size,
                "original_sha512": known.sha512,
            }
            self._ingest.activate(fence, out_key, result, context, extra=extra, bytes_read=known.size)
        except BaseException:
            self._blobs.delete(out_key)
            raise

    def _record_sha512(self, fence: JobFence, original: OriginalDisk) -> None:
        """The job row learns the original's sha512 (the import status shows it from now on)."""
        assert original.sha512 is not None
        with self._db.transaction() as conn:
            if not job_store.set_original_sha512(conn, fence, original.sha512):
                raise IngestCancelled(fence.image_id)

    def _inspected_output(
        self,
        fence: JobFence,
        output: Path,
        writer: BlobWriter,
        original: OriginalDisk,
        progress: Callable[[int], None],
    ) -> IngestResult:
        """The output through the upload's own pipeline, judged as a qcow2 again (no backing or data
        file, sizes consistent); the quota holds the original's bytes until the output grows past them."""
        try:
            return ingest(
                self._quotas.metered(fence, read_file_chunks(str(output)), held=original.size),
                writer,
                max_bytes=self._max_bytes,
                max_virtual_size=self._max_virtual_size,
                progress=progress,
                inspector=Qcow2Disk(max_virtual_size=self._max_virtual_size),
            )
        except DiskImageRejected as exc:
            detail = f"the converted disk was refused ({exc.reason}): {exc.params['detail']}"
            raise DiskImageRejected("conversion_output", detail) from exc


class _NoWrites(WriterBase):
    """The writer of an output already committed by a link: the ingest only reads and judges it."""

    def _write(self, data: memoryview) -> None:
        pass

    def _commit(self) -> None:
        pass

    def _cancel(self) -> None:
        pass
