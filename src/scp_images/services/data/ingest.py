"""Turning bytes into an active image: the one path shared by the operator's file import, direct
uploads and URL imports. A failure leaves no blob behind; bad input given by the operator leaves no
row either."""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from scp_images.domain.audit import AuditAction
from scp_images.domain.disk_formats import ALL_ACCEPTED, DiskFormat, OriginalDisk, is_converted
from scp_images.domain.errors import AccountNotFound, DiskImageRejected, DomainError, UploadInterrupted
from scp_images.domain.failures import failure_reason
from scp_images.domain.image import Image, ImageSpec, ImageStatus, Visibility, new_image
from scp_images.domain.jobs import ImportJob, JobFence, JobSource, JobStatus, StagedDisk
from scp_images.formats.detect import DetectingInspector
from scp_images.formats.disk import DiskInspector
from scp_images.imports.pipeline import IngestCancelled, IngestResult, ingest, read_file_chunks
from scp_images.services import audit
from scp_images.services.audit import AuditContext
from scp_images.services.clock import Clock, system_clock
from scp_images.services.observer import ImportObserver, NoObserver
from scp_images.services.quotas import QuotaService
from scp_images.store.blob.base import BlobStore
from scp_images.store.sql import accounts as account_store
from scp_images.store.sql import images as image_store
from scp_images.store.sql import imports as job_store
from scp_images.store.sql.database import Database

log = logging.getLogger("scp_images.services.ingest")  # the logger's name from before the rooms


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_bytes: int
    max_virtual_size: int
    accepted: frozenset[DiskFormat] = ALL_ACCEPTED  # the input formats the operator takes


@dataclass(frozen=True, slots=True)
class PublishRequest:
    """What an operator states about a standard image it publishes from a local file."""

    path: str
    name: str
    os_distro: str
    owner: str
    visibility: Visibility = Visibility.PUBLIC
    image_type: str | None = "standard"
    os_version: str | None = None
    protected: bool = False
    hidden: bool = False
    user_name: str | None = None


def _to_convert(result: IngestResult, stored_format: str) -> bool:
    """Whether the received disk is converted into qcow2 (``is_converted``); the operator's file import
    (no detection) never is."""
    disk = result.disk
    return disk is not None and is_converted(disk.disk_format, stored_format)


def _both(first: Callable[[int], None], then: Callable[[int], None] | None) -> Callable[[int], None]:
    if then is None:
        return first

    def call(bytes_read: int) -> None:
        first(bytes_read)
        then(bytes_read)

    return call


class ImportReleased(Exception):
    """The writer is shutting down: its unfinished job goes back to the queue for another runner."""


class ImportSuperseded(Exception):
    """This attempt no longer owns its job (a newer attempt claimed it, or the image was deleted)."""


def new_blob_key(image_id: str) -> str:
    # A fresh key per attempt: a stale attempt that commits late can never overwrite the winner's bytes.
    return f"images/{image_id}/{secrets.token_hex(8)}"


class IngestService:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        limits: IngestLimits,
        quotas: QuotaService,
        clock: Clock = system_clock,
        observer: ImportObserver | None = None,
        on_job: Callable[[], None] | None = None,
    ) -> None:
        self._on_job = on_job or (lambda: None)  # wakes this process's runner: a conversion is waiting
        self._db = db
        self._quotas = quotas
        self._blobs = blobs
        self._limits = limits
        self._clock = clock
        self._observer = observer or NoObserver()

    def ingest_into(
        self,
        fence: JobFence,
        chunks: Iterable[bytes],
        *,
        progress: Callable[[int], None] | None = None,
        context: AuditContext | None = None,
        target: ImageStatus = ImageStatus.ACTIVE,
        convert_here: bool = False,
    ) -> IngestResult:
        """Stream ``chunks`` into a new blob and make the image active (or ``uploading``: staged); all or
        nothing. Only the attempt that still owns the job (its fence) can publish, and the job ends in the
        same transaction, with its audit record (``context``; by default the fence's writer, as a worker).

        A disk in another format than the image stores (a VMDK, or raw on an image storing qcow2) is
        committed as the job's original instead (the result says ``staged``):
        the image stays ``importing`` (``uploading`` for glance-direct's stage) and the job waits for a
        conversion runner, or (``convert_here``: a URL import's runner) stays this attempt's to convert."""
        key = new_blob_key(fence.image_id)
        with self._db.transaction() as conn:
            if not job_store.set_staging_key(conn, fence, key, self._clock()):
                raise IngestCancelled(fence.image_id)
            image = image_store.get_image(conn, fence.image_id)
            job = job_store.get_job(conn, fence.image_id)
        stored_format = image.disk_format if image is not None else DiskFormat.QCOW2.value
        with self._blobs.writer(key) as writer:
            result = ingest(
                self._quotas.metered(fence, chunks),
                writer,
                max_bytes=self._limits.max_bytes,
                max_virtual_size=self._limits.max_virtual_size,
                progress=progress,
                disk_format=stored_format,
                inspector=self._inspector(job, stored_format),
            )
            writer.commit()
        try:
            who = context or audit.worker(fence.worker)
            if _to_convert(result, stored_format):
                self._stage_original(fence, key, result, who, target, convert_here)
                result = replace(result, staged=True)
            else:
                self._activate(fence, key, result, who, target)
        except BaseException:
            self._blobs.delete(key)
            raise
        return result

    def _inspector(self, job: ImportJob | None, stored_format: str) -> DiskInspector | None:
        """Detect the format of what an upload or URL import sends (checked against what its caller
        declared); the operator's file import keeps today's qcow2 judgement (None)."""
        if job is None or job.source is JobSource.LOCAL:
            return None
        declared = DiskFormat(job.input_format) if job.input_format else None
        return DetectingInspector(
            declared=declared,
            accepted=self._limits.accepted,
            max_virtual_size=self._limits.max_virtual_size,
            stored_format=stored_format,
        )

    def _stage_original(
        self,
        fence: JobFence,
        key: str,
        result: IngestResult,
        context: AuditContext,
        target: ImageStatus,
        convert_here: bool,
    ) -> None:
        assert result.disk is not None
        disk = result.disk
        # Its sha512 is None when the bytes were not hashed on the way (a format known from its first
        # bytes): the conversion computes it from the staged original.
        original = OriginalDisk(disk.disk_format.value, result.size, result.os_hash_value)
        staged = StagedDisk(disk.virtual_size, disk.member_offset, disk.member_size)
        if target is ImageStatus.UPLOADING:
            hand_over: JobStatus | None = JobStatus.SUCCEEDED  # waits for glance-direct's import call
        else:
            hand_over = None if convert_here else JobStatus.PENDING
        now = self._clock()
        with self._db.transaction() as conn:
            if not job_store.stage_original(conn, fence, key, original, staged, hand_over=hand_over):
                raise ImportSuperseded(fence.image_id)
            status = ImageStatus.UPLOADING if target is ImageStatus.UPLOADING else ImageStatus.IMPORTING
            if not image_store.move(conn, fence.image_id, ImageStatus.IMPORTING, status, {"updated_at": now}):
                raise ImportSuperseded(fence.image_id)
            detail = f"original {original.disk_format} staged for conversion: {original.size} bytes"
            audit.record(
                conn,
                audit.entry(
                    context, now, action=AuditAction.IMPORT_STAGE, image_id=fence.image_id, detail=detail
                ),
            )
        if hand_over is JobStatus.PENDING:
            self._on_job()

    def activate(
        self,
        fence: JobFence,
        key: str,
        result: IngestResult,
        context: AuditContext,
        target: ImageStatus = ImageStatus.ACTIVE,
        extra: dict[str, Any] | None = None,
        bytes_read: int | None = None,
    ) -> None:
        """The image becomes ``target`` with the stored blob ``key`` and the job ends, in one transaction;
        ``extra``: more image columns (a converted image's format and original); ``bytes_read``: what
        the job received, when that is not what was stored (a converted disk)."""
        self._activate(fence, key, result, context, target, extra, bytes_read)

    def _activate(
        self,
        fence: JobFence,
        key: str,
        result: IngestResult,
        context: AuditContext,
        target: ImageStatus,
        extra: dict[str, Any] | None = None,
        bytes_read: int | None = None,
    ) -> None:
        # A stored image has its digests: only a disk to convert goes unhashed, and it is staged instead.
        assert result.checksum is not None and result.os_hash_value is not None, "an unhashed disk is stored"
        now = self._clock()
        changes = {
            "size": result.size,
            "checksum": result.checksum,
            "os_hash_algo": result.os_hash_algo,
            "os_hash_value": result.os_hash_value,
            "virtual_size": result.virtual_size,
            "blob_key": key,
            "updated_at": now,
            **(extra or {}),
        }
        with self._db.transaction() as conn:
            # Both or neither: a superseded attempt rolls back here and removes its own blob.
            received = result.size if bytes_read is None else bytes_read
            ours = job_store.finish(conn, fence, JobStatus.SUCCEEDED, now, bytes_read=received)
            if not ours or not image_store.move(conn, fence.image_id, ImageStatus.IMPORTING, target, changes):
                raise ImportSuperseded(fence.image_id)
            detail = f"{result.size} bytes, md5 {result.checksum}"
            audit.record(
                conn,
                audit.entry(
                    context, now, action=AuditAction.IMPORT_PUBLISH, image_id=fence.image_id, detail=detail
                ),
            )

    def ingest_or_kill(
        self,
        fence: JobFence,
        chunks: Iterable[bytes],
        *,
        progress: Callable[[int], None] | None = None,
        reraise: bool = False,
        context: AuditContext | None = None,
        target: ImageStatus = ImageStatus.ACTIVE,
        convert_here: bool = False,
    ) -> IngestResult | None:
        """Run an import to its end: the image ends active, killed with the reason on its record, or (an
        interrupted upload) queued again. Returns None when it did not become active; with ``reraise`` a
        refusal or interruption is raised after the image is settled, so a caller waiting on it hears why."""
        started = time.monotonic()
        context = context or audit.worker(fence.worker)
        counted = _Counted(chunks)
        try:
            result = self.ingest_into(
                fence, counted, progress=progress, context=context, target=target, convert_here=convert_here
            )
        except (IngestCancelled, ImportSuperseded):
            self._observer.import_finished("cancelled", None, 0, time.monotonic() - started)
            return None
        except ImportReleased:
            with self._db.transaction() as conn:
                if job_store.release(conn, fence):
                    detail = "handed back: its writer is shutting down"
                    audit.record(
                        conn,
                        audit.entry(
                            context,
                            self._clock(),
                            action=AuditAction.IMPORT_REQUEUE,
                            image_id=fence.image_id,
                            detail=detail,
                        ),
                    )
            self._observer.import_finished("released", None, 0, time.monotonic() - started)
            return None
        except UploadInterrupted as exc:
            reason = "interrupted: the upload stopped before its end"
            self.settle(fence, ImageStatus.QUEUED, reason, context, exc, counted.bytes)
            self._observer.import_finished("interrupted", None, 0, time.monotonic() - started)
            if reraise:
                raise
            return None
        except Exception as exc:
            self.settle(fence, ImageStatus.KILLED, failure_reason(exc), context, exc, counted.bytes)
            reason = exc.reason if isinstance(exc, DiskImageRejected) else type(exc).__name__
            self._observer.import_finished("killed", reason, 0, time.monotonic() - started)
            if not isinstance(exc, DomainError):
                log.exception("import of image %s failed", fence.image_id)
            elif reraise:
                raise
            return None
        outcome = "staged" if result.staged else "active"
        self._observer.import_finished(outcome, None, result.size, time.monotonic() - started)
        return result

    def heartbeat(self, fence: JobFence, interval: float) -> Callable[[int], None]:
        """A progress callback that records bytes read and proves the writer alive; it stops the
        ingest when the job is no longer this attempt's (image deleted, or reclaimed)."""
        last = [time.monotonic()]

        def beat(bytes_read: int) -> None:
            now = time.monotonic()
            if now - last[0] < interval:
                return
            last[0] = now
            with self._db.transaction() as conn:
                ours = job_store.heartbeat(conn, fence, self._clock(), bytes_read)
            if not ours:
                raise IngestCancelled(fence.image_id)

        return beat

    def settle(
        self,
        fence: JobFence,
        target: ImageStatus,
        reason: str,
        context: AuditContext,
        error: Exception,
        bytes_read: int,
    ) -> None:
        """End a failed attempt: only while it still owns the job does it touch the job or the image, and
        records what it did (an upload's record carries the call's error and status) and how many bytes
        it had read (import-status shows them)."""
        now = self._clock()
        with self._db.transaction() as conn:
            if job_store.finish(conn, fence, JobStatus.FAILED, now, reason=reason, bytes_read=bytes_read):
                image_store.move(conn, fence.image_id, ImageStatus.IMPORTING, target, {"updated_at": now})
                queued = target is ImageStatus.QUEUED
                action = AuditAction.IMPORT_REQUEUE if queued else AuditAction.IMPORT_KILL
                audit.record(
                    conn,
                    audit.entry(
                        context, now, action=action, image_id=fence.image_id, error=error, detail=reason
                    ),
                )

    def publish_file(
        self,
        request: PublishRequest,
        context: AuditContext | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Image:
        """The operator's import of a local qcow2; a refused file leaves neither row nor blob. Recorded
        (as the operator, by default) when the image becomes active. ``progress`` gets the bytes read."""
        image = self._new_image(request)
        worker = f"admin:{os.getpid()}:{secrets.token_hex(4)}"
        with self._db.transaction() as conn:
            # The operator's import counts against the owner's quotas like any other.
            self._quotas.require_room(conn, image.owner, images=1, uploading=1, bytes_room=True)
            image_store.insert_image(conn, image)
            fence = job_store.put_job(
                conn, image.id, None, JobSource.LOCAL, image.created_at, JobStatus.RUNNING, worker
            )
        assert fence is not None
        try:
            self.ingest_into(
                fence,
                read_file_chunks(request.path),
                progress=_both(self.heartbeat(fence, 5.0), progress),
                context=context or audit.operator(AuditAction.IMAGE_PUBLISH),
            )
        except BaseException:
            with self._db.transaction() as conn:
                image_store.delete_image(conn, image.id)
            raise
        with self._db.read() as conn:
            stored = image_store.get_image(conn, image.id)
        assert stored is not None
        return stored

    def _new_image(self, request: PublishRequest) -> Image:
        with self._db.read() as conn:
            account = account_store.get_account(conn, request.owner)
        if account is None:
            raise AccountNotFound(account_id=request.owner)
        spec = ImageSpec(
            name=request.name,
            owner=account.id,
            os_distro=request.os_distro,
            status=ImageStatus.IMPORTING,
            visibility=request.visibility,
            protected=request.protected,
            hidden=request.hidden,
            owner_account_name=account.name,
            owner_user_name=request.user_name,
            image_type=request.image_type,
            os_version=request.os_version,
        )
        return new_image(spec, self._clock())


class _Counted:
    """The chunks of an ingest, counting the bytes taken from them: a failed attempt records how far
    it got (the progress callback beats only every few seconds)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.bytes += len(chunk)
            yield chunk
