"""The import job runner: claims URL import jobs written by ``ImageService``, streams their source into the
image under the claim's fence, and keeps a heartbeat.

Claims are compare-and-set updates (plus ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so several runners
can share one database; a job whose writer stopped beating is claimed again, up to ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from scp_images.conversion.host import Slot
from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import ImageNotFound
from scp_images.domain.failures import stored
from scp_images.domain.image import ImageStatus
from scp_images.domain.jobs import ImportJob, JobFence, JobStatus
from scp_images.services import audit
from scp_images.services.access.sources import ImportSources
from scp_images.services.clock import Clock, system_clock
from scp_images.services.data.convert import ConversionService
from scp_images.services.data.ingest import ImportReleased, IngestService
from scp_images.store.sql import images as image_store
from scp_images.store.sql import imports as job_store
from scp_images.store.sql.database import Database

log = logging.getLogger("scp_images.services.import_jobs")  # the logger's name from before the rooms

MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class RunnerTimings:
    heartbeat_seconds: float = 2.0
    stale_seconds: float = 10.0
    idle_poll_seconds: float = 1.0


class _SlotHolder:
    """The conversion slot ``claim_next`` takes, at most one, before it claims a conversion job."""

    def __init__(self, convert: ConversionService | None) -> None:
        self._convert = convert
        self.slot: Slot | None = None

    def take(self) -> bool:
        if self.slot is None and self._convert is not None:
            self.slot = self._convert.try_slot()
        return self.slot is not None

    def release(self) -> None:
        if self.slot is not None:
            self.slot.release()
            self.slot = None

    def keep_for(self, claimed: ImportJob | None) -> Slot | None:
        """The slot for the claimed conversion job; released when none was claimed or it is a URL's."""
        if claimed is None or claimed.original_key is None:
            self.release()
        return self.slot


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ImportRunner:
    def __init__(
        self,
        db: Database,
        ingest: IngestService,
        sources: ImportSources,
        *,
        timings: RunnerTimings = RunnerTimings(),
        clock: Clock = system_clock,
        worker_id: str | None = None,
        discard: Callable[[str], None] = lambda key: None,
        convert: ConversionService | None = None,
        wake: threading.Event | None = None,
    ) -> None:
        self._convert = convert  # runs the conversion jobs (None: this runner takes none)
        self._slot: Slot | None = None  # the conversion slot claim_next took for the job it claimed
        self._discard = discard  # removes what a superseded attempt wrote
        self._db = db
        self._ingest = ingest
        self._sources = sources
        self._timings = timings
        self._clock = clock
        self.worker_id = worker_id or new_worker_id()
        self.wake = wake or threading.Event()
        # Set on shutdown: claim nothing more, and hand the running job back at its next chunk.
        self.stopping = threading.Event()

    def _stale_before(self) -> datetime:
        return self._clock() - timedelta(seconds=self._timings.stale_seconds)

    # --- claiming ------------------------------------------------------------------------------

    def claim_next(self) -> ImportJob | None:
        if self.stopping.is_set():
            return None
        stale_before = self._stale_before()
        claimed: ImportJob | None = None
        dropped: list[str] = []
        slot = _SlotHolder(self._convert)
        try:
            with self._db.transaction() as conn:
                ids = job_store.claimable_ids(conn, stale_before, 5, skip_locked=self._db.is_postgres)
                for image_id in ids:
                    job = job_store.get_job(conn, image_id)
                    # A conversion is claimed only with one of the host's slots in hand: no claim is
                    # ever held without a heartbeat while it waits for a slot.
                    if job is None or (job.original_key is not None and not slot.take()):
                        continue
                    claimed = self._claim_one(conn, job, stale_before, dropped)
                    if claimed is not None:
                        break
        except BaseException:
            slot.release()
            raise
        self._slot = slot.keep_for(claimed)
        for key in dropped:  # after the commit: their jobs no longer name them
            self._discard(key)
        return claimed

    def _claim_one(
        self, conn: Connection, job: ImportJob, stale_before: datetime, dropped: list[str]
    ) -> ImportJob | None:
        """The job claimed, or None; ``dropped`` gets the keys it no longer names (a superseded attempt's
        blob, the original of a job given up)."""
        if job.staging_key is not None:
            dropped.append(job.staging_key)
        if self._claim(conn, job, stale_before):
            return job_store.get_job(conn, job.image_id)
        if job.original_key is not None:  # given up, or no longer importable (else still owned: kept)
            dropped.append(job.original_key)
        return None

    def _claim(self, conn: Connection, job: ImportJob, stale_before: datetime) -> bool:
        now = self._clock()
        if job.status is JobStatus.RUNNING and job.attempts >= MAX_ATTEMPTS:
            self._give_up(conn, job, now, stale_before)
            return False
        if not job_store.claim(conn, job, self.worker_id, now, stale_before):
            return False
        image = image_store.get_image(conn, job.image_id)
        if image is not None and image.status in (ImageStatus.QUEUED, ImageStatus.IMPORTING):
            changes = {"updated_at": now}
            if image_store.move(conn, image.id, image.status, ImageStatus.IMPORTING, changes):
                return True
        claimed = job_store.get_job(conn, job.image_id)
        assert claimed is not None
        reason = stored("not_importable", "the image is no longer importable")
        job_store.finish(conn, claimed.fence, JobStatus.FAILED, now, reason=reason)
        return False

    def _give_up(self, conn: Connection, job: ImportJob, now: datetime, stale_before: datetime) -> None:
        reason = f"interrupted: the import was restarted {job.attempts} times and gave up"
        if job_store.fail_abandoned(conn, job, now, reason, stale_before):
            # Compare-and-set from importing: an image that became active is never turned into killed.
            changes = {"updated_at": now}
            if image_store.move(conn, job.image_id, ImageStatus.IMPORTING, ImageStatus.KILLED, changes):
                context = audit.worker(self.worker_id)
                action = AuditAction.IMPORT_KILL
                audit.record(
                    conn, audit.entry(context, now, action=action, image_id=job.image_id, detail=reason)
                )

    # --- running -------------------------------------------------------------------------------

    def run_once(self) -> bool:
        job = self.claim_next()
        if job is None:
            return False
        self.run(job)
        return True

    def run(self, job: ImportJob) -> None:
        slot, self._slot = self._slot, None
        if job.original_key is not None:
            if slot is None:  # claimed by a caller other than claim_next
                slot = self._convert.try_slot() if self._convert is not None else None
            if slot is None or self._convert is None:
                self._hand_back(job)
                return
            self._convert.run(job, slot, self.stopping)
            return
        assert job.url is not None
        log.info("import of image %s started (attempt %d)", job.image_id, job.attempts)
        fence = job.fence
        beat = self._ingest.heartbeat(fence, self._timings.heartbeat_seconds)

        def progress(bytes_read: int) -> None:
            if self.stopping.is_set():
                raise ImportReleased(job.image_id)
            beat(bytes_read)

        result = self._ingest.ingest_or_kill(
            fence, self._source_chunks(job), progress=progress, convert_here=True
        )
        if result is not None and result.staged:
            self._convert_now(fence)

    def _convert_now(self, fence: JobFence) -> None:
        """A URL import's original is staged: the same attempt converts it at once (no download again),
        or hands it back when the host has no slot free."""
        with self._db.read() as conn:
            staged = job_store.get_job(conn, fence.image_id)
        if staged is None or staged.claimed_by != fence.worker or staged.attempts != fence.attempt:
            return
        slot = self._convert.try_slot() if self._convert is not None else None
        if slot is None or self._convert is None:
            self._hand_back(staged)
            return
        self._convert.run(staged, slot, self.stopping)

    def _hand_back(self, job: ImportJob) -> None:
        with self._db.transaction() as conn:
            job_store.release(conn, job.fence)

    def _source_chunks(self, job: ImportJob) -> Iterator[bytes]:
        assert job.url is not None
        # The owner's grants are checked again before anything is read: one may have been revoked since.
        source = self._sources.open(job.url, self._owner(job.image_id))
        try:
            with self._db.transaction() as conn:
                job_store.set_total(conn, job.fence, source.total)
            yield from source.chunks()
        finally:
            source.close()

    def _owner(self, image_id: str) -> str:
        with self._db.read() as conn:
            image = image_store.get_image(conn, image_id)
        if image is None:
            raise ImageNotFound(image_id=image_id)
        return image.owner

    def run_or_wait(self) -> None:
        """Run one job, or wait until woken (or the idle poll) when there is none."""
        try:
            ran = self.run_once()
        except Exception:  # the loop must outlive a database outage
            log.exception("import runner iteration failed")
            ran = False
        if not ran:
            self.wake.wait(self._timings.idle_poll_seconds)
            self.wake.clear()
