"""Repairing what stopped writers left behind, by one ownership rule. Safe while other processes work.

The rule: a stored object is *owned* when a row names it, either an image's current data
(``images.blob_key``), the blob a running import or upload is writing (``image_imports.staging_key``,
named before its first byte), or a received original waiting for its conversion
(``image_imports.original_key``, named as the staging key while it was written). Only an unowned
object older than the grace period is an orphan, and a fresh database check right before each delete must
still find no owner. Writers name a fresh random key
before creating it, so an object that is unowned at that check can never become owned afterwards.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from scp_images.conversion.host import ConversionHost
from scp_images.domain.audit import AuditAction
from scp_images.domain.image import ImageStatus
from scp_images.domain.jobs import ImportJob, JobSource, JobStatus
from scp_images.services import audit
from scp_images.services.clock import Clock, system_clock
from scp_images.store.blob.base import BlobStore, StagedUpload, StoredBlob
from scp_images.store.sql import images as image_store
from scp_images.store.sql import imports as job_store
from scp_images.store.sql.database import Database

log = logging.getLogger("scp_images.services.recovery")  # the logger's name from before the rooms

# Staged bytes whose key the store cannot tell (written by an older version) are judged by age alone.
_UNNAMED_STAGING_AGE = 86400.0


@dataclass(frozen=True, slots=True)
class Orphan:
    """Stored bytes no row owns, older than the grace period: what the sweep would remove."""

    key: str | None  # None: a staged upload whose key the store cannot tell
    staged: bool
    written_at: float  # epoch seconds

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "staged": self.staged, "written_at": self.written_at}


class Recovery:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        *,
        stale_seconds: float,
        grace_seconds: float,
        upload_stale_seconds: float | None = None,
        clock: Clock = system_clock,
        wall_time: Callable[[], float] = time.time,
        worker_id: str | None = None,
        conversions: ConversionHost | None = None,
    ) -> None:
        self._conversions = conversions  # its job directories left by dead processes are swept
        # Who its audit records name: the worker (or server) process whose background work it is.
        self.worker_id = worker_id or f"recovery:{socket.gethostname()}:{os.getpid()}"
        self._db = db
        self._blobs = blobs
        self._stale = timedelta(seconds=stale_seconds)
        # An upload beats only when its client sends; a client may pause up to the body read timeout.
        self._upload_stale = timedelta(seconds=max(stale_seconds, upload_stale_seconds or 0.0))
        self._grace = grace_seconds
        self._clock = clock
        self._wall_time = wall_time

    def run(self) -> None:
        self.settle_abandoned_writes()
        self.sweep_orphans()
        self.sweep_conversions()

    def sweep_conversions(self) -> int:
        """Remove the conversion job directories of processes that died on this host (their lock free)."""
        if self._conversions is None:
            return 0
        removed = self._conversions.sweep()
        if removed:
            log.warning("removed %d conversion directories left by stopped processes", removed)
        return removed

    # --- writers that stopped ------------------------------------------------------------------

    def settle_abandoned_writes(self) -> None:
        """Uploads and operator imports cannot be resumed elsewhere: once their writer stopped beating, an
        upload is queued again (the same PUT can be sent again) and an operator import ends killed. URL
        imports are left to the runners, which claim them again."""
        now = self._clock()
        left: list[str] = []
        with self._db.transaction() as conn:
            for image in image_store.images_importing_since(conn, now - self._stale):
                job = job_store.get_job(conn, image.id)
                # A job with a staged original is a conversion: any runner takes it over, as a URL import.
                if job is not None and job.original_key is not None:
                    continue
                if job is None or job.source is not JobSource.URL:
                    patience = self._upload_stale if job and job.source is JobSource.UPLOAD else self._stale
                    self._settle(conn, image.id, job, now - patience)
                    if job is not None and job.staging_key is not None:
                        left.append(job.staging_key)
        for key in left:
            self.discard(key)

    def _settle(self, conn: Connection, image_id: str, job: ImportJob | None, stale_before: datetime) -> None:
        now = self._clock()
        changes = {"updated_at": now}
        if job is None or job.status is not JobStatus.RUNNING:
            if image_store.move(conn, image_id, ImageStatus.IMPORTING, ImageStatus.KILLED, changes):
                audit.record_change(
                    conn,
                    audit.worker(self.worker_id),
                    self._clock(),
                    AuditAction.IMPORT_KILL,
                    image_id=image_id,
                    detail="no running import writes it",
                )
            return
        upload = job.source is JobSource.UPLOAD
        reason = "interrupted: the upload stopped" if upload else "interrupted: the operator import stopped"
        if job_store.fail_abandoned(conn, job, now, reason, stale_before):
            target = ImageStatus.QUEUED if upload else ImageStatus.KILLED
            if image_store.move(conn, image_id, ImageStatus.IMPORTING, target, changes):
                action = AuditAction.IMPORT_REQUEUE if upload else AuditAction.IMPORT_KILL
                audit.record_change(
                    conn,
                    audit.worker(self.worker_id),
                    self._clock(),
                    action,
                    image_id=image_id,
                    detail=reason,
                )

    # --- orphans -------------------------------------------------------------------------------

    def _owned_now(self) -> set[str]:
        with self._db.read() as conn:
            return image_store.blob_keys(conn) | job_store.staging_keys(conn)  # saves most fresh checks

    def orphans(self) -> Iterator[Orphan]:
        """What ``sweep_orphans`` would remove now, by the same rule; removes nothing (the scrub reports)."""
        owned = self._owned_now()
        for blob in list(self._blobs.blobs()):
            if self._orphan_blob(blob, owned):
                yield Orphan(blob.key, False, blob.modified_at)
        for upload in list(self._blobs.staged()):
            if self._abandoned(upload, owned):
                yield Orphan(upload.key, True, upload.started_at)

    def _orphan_blob(self, blob: StoredBlob, owned: set[str]) -> bool:
        return blob.key not in owned and self._old(blob.modified_at) and self._unowned(blob.key)

    def sweep_orphans(self) -> int:
        """Remove committed blobs and staged uploads that no row owns; returns how many went."""
        owned = self._owned_now()
        removed = 0
        for blob in list(self._blobs.blobs()):
            if self._orphan_blob(blob, owned):
                log.warning("removing orphan blob %s", blob.key)
                self._blobs.delete(blob.key)
                removed += 1
        for upload in list(self._blobs.staged()):
            if self._abandoned(upload, owned):
                log.warning("aborting orphan staged upload %s (%s)", upload.key, upload.handle)
                self._blobs.abort(upload)
                removed += 1
        return removed

    def _old(self, written_at: float, extra: float = 0.0) -> bool:
        return written_at <= self._wall_time() - self._grace - extra

    def _abandoned(self, upload: StagedUpload, owned: set[str]) -> bool:
        if upload.key is None:
            return self._old(upload.started_at, _UNNAMED_STAGING_AGE)
        return upload.key not in owned and self._old(upload.started_at) and self._unowned(upload.key)

    def discard(self, key: str) -> None:
        """Remove what a superseded or abandoned attempt wrote under ``key`` (committed or staged), at once:
        its job no longer names it. The fresh check still applies."""
        if not self._unowned(key):
            return
        self._blobs.delete(key)
        for upload in list(self._blobs.staged()):
            if upload.key == key:
                self._blobs.abort(upload)

    def _unowned(self, key: str) -> bool:
        """The fresh check right before a delete: a snapshot taken earlier may predate the writer."""
        with self._db.read() as conn:
            return not (image_store.blob_key_owned(conn, key) or job_store.staging_key_owned(conn, key))
