"""The import job runner: claims jobs written by ``ImageService``, streams their source into an image,
keeps a heartbeat, and on start-up repairs what a crash left (stale jobs, stuck images, orphan blobs).

The embedded default runs it on a thread of the server; ``scp-images worker`` runs it on its own.
Claims are compare-and-set updates (plus ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so several
runners can share one database.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection

from scp_images.domain.errors import ImageNotFound
from scp_images.domain.image import ImageStatus
from scp_images.domain.sources import redact_url
from scp_images.services.clock import Clock, system_clock
from scp_images.services.ingest import IngestService
from scp_images.services.sources import ImportSources
from scp_images.store.blob.base import BlobStore
from scp_images.store.sql import images as image_store
from scp_images.store.sql import imports as job_store
from scp_images.store.sql.database import Database
from scp_images.store.sql.imports import ImportJob, JobStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class RunnerTimings:
    heartbeat_seconds: float = 5.0
    stale_seconds: float = 60.0
    # S3 dates a multipart upload by its start, so this must outlast the longest import.
    staging_sweep_seconds: float = 86400.0
    idle_poll_seconds: float = 1.0


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ImportRunner:
    def __init__(
        self,
        db: Database,
        ingest: IngestService,
        sources: ImportSources,
        blobs: BlobStore,
        *,
        timings: RunnerTimings = RunnerTimings(),
        clock: Clock = system_clock,
        worker_id: str | None = None,
    ) -> None:
        self._db = db
        self._ingest = ingest
        self._sources = sources
        self._blobs = blobs
        self._timings = timings
        self._clock = clock
        self.worker_id = worker_id or new_worker_id()
        self.wake = threading.Event()

    # --- claiming ------------------------------------------------------------------------------

    def claim_next(self) -> ImportJob | None:
        stale_before = self._clock() - timedelta(seconds=self._timings.stale_seconds)
        with self._db.transaction() as conn:
            ids = job_store.claimable_ids(conn, stale_before, 5, skip_locked=self._db.is_postgres)
            for image_id in ids:
                job = job_store.get_job(conn, image_id)
                if job is not None and self._claim(conn, job):
                    return job_store.get_job(conn, image_id)
        return None

    def _claim(self, conn: Connection, job: ImportJob) -> bool:
        now = self._clock()
        if job.status is JobStatus.RUNNING and job.attempts >= MAX_ATTEMPTS:
            reason = f"interrupted: the import was restarted {job.attempts} times and gave up"
            image_store.update_image(conn, job.image_id, {"status": ImageStatus.KILLED, "updated_at": now})
            job_store.finish(conn, job.image_id, JobStatus.FAILED, now, reason=reason)
            return False
        if not job_store.claim(conn, job, self.worker_id, now):
            return False
        image = image_store.get_image(conn, job.image_id)
        if image is None or image.status not in (ImageStatus.QUEUED, ImageStatus.IMPORTING):
            job_store.finish(
                conn, job.image_id, JobStatus.FAILED, now, reason="the image is no longer importable"
            )
            return False
        return image_store.update_image(
            conn,
            job.image_id,
            {"status": ImageStatus.IMPORTING, "updated_at": now},
            from_status=image.status,
        )

    # --- running -------------------------------------------------------------------------------

    def run_once(self) -> bool:
        job = self.claim_next()
        if job is None:
            return False
        self.run(job)
        return True

    def run(self, job: ImportJob) -> None:
        assert job.url is not None
        log.info(
            "import of image %s from %s started (attempt %d)", job.image_id, redact_url(job.url), job.attempts
        )
        self._ingest.ingest_or_kill(
            job.image_id,
            self._source_chunks(job),
            worker=self.worker_id,
            progress=self._ingest.heartbeat(job.image_id, self.worker_id, self._timings.heartbeat_seconds),
        )

    def _source_chunks(self, job: ImportJob) -> Iterator[bytes]:
        assert job.url is not None
        # The owner's grants are checked again before anything is read: one may have been revoked since.
        source = self._sources.open(job.url, self._owner(job.image_id))
        try:
            with self._db.transaction() as conn:
                job_store.set_total(conn, job.image_id, source.total)
            yield from source.chunks()
        finally:
            source.close()

    def _owner(self, image_id: str) -> str:
        with self._db.transaction() as conn:
            image = image_store.get_image(conn, image_id)
        if image is None:
            raise ImageNotFound(image_id=image_id)
        return image.owner

    def serve_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                ran = self.run_once()
            except Exception:  # the loop must outlive a database outage
                log.exception("import runner iteration failed")
                ran = False
            if not ran:
                self.wake.wait(self._timings.idle_poll_seconds)
                self.wake.clear()

    # --- recovery ------------------------------------------------------------------------------

    def recover(self) -> None:
        """Repair what a crash left behind. Safe to run while other runners work."""
        self._kill_stuck_uploads()
        self._blobs.sweep_staging(older_than_seconds=self._timings.staging_sweep_seconds)
        self._sweep_orphan_blobs()

    def _kill_stuck_uploads(self) -> None:
        """Uploads and operator imports cannot be resumed elsewhere: past the stale limit they end killed."""
        stale_before = self._clock() - timedelta(seconds=self._timings.stale_seconds)
        with self._db.transaction() as conn:
            for image in image_store.images_importing_since(conn, stale_before):
                job = job_store.get_job(conn, image.id)
                if job is not None and (
                    job.source == "url" or (job.heartbeat_at or stale_before) > stale_before
                ):
                    continue
                now = self._clock()
                image_store.update_image(
                    conn,
                    image.id,
                    {"status": ImageStatus.KILLED, "updated_at": now},
                    from_status=ImageStatus.IMPORTING,
                )
                if job is not None:
                    job_store.finish(
                        conn, image.id, JobStatus.FAILED, now, reason="interrupted: the upload stopped"
                    )

    def _sweep_orphan_blobs(self) -> None:
        with self._db.transaction() as conn:
            owned = image_store.blob_keys(conn)
            busy = {i.id for i in image_store.images_in_status(conn, ImageStatus.IMPORTING)}
        for key in list(self._blobs.keys()):
            image_id = key.split("/")[1] if key.count("/") >= 2 else ""
            if key not in owned and image_id not in busy:
                log.warning("removing orphan blob %s", key)
                self._blobs.delete(key)


class RunnerThread:
    """Runs an ImportRunner on a daemon thread inside the server process."""

    def __init__(self, runner: ImportRunner) -> None:
        self.runner = runner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="import-runner", daemon=True)

    def _main(self) -> None:
        try:
            self.runner.recover()
        except Exception:
            log.exception("import recovery failed")
        self.runner.serve_forever(self._stop)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.runner.wake.set()
        self._thread.join(timeout=30)
