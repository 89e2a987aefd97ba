"""Turning bytes into an active image: the one path shared by the operator's file import, direct
uploads and URL imports. A failure leaves no blob behind; bad input given by the operator leaves no
row either."""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from scp_images.domain.errors import (
    AccountNotFound,
    ConcurrentUpdate,
    DiskImageRejected,
    DomainError,
    InvalidRequest,
)
from scp_images.domain.image import Image, ImageStatus, Visibility, new_image_id
from scp_images.imports.pipeline import IngestCancelled, IngestResult, ingest, read_file_chunks
from scp_images.services.clock import Clock, system_clock
from scp_images.services.observer import ImportObserver, NoObserver
from scp_images.store.blob.base import BlobStore
from scp_images.store.sql import accounts as account_store
from scp_images.store.sql import images as image_store
from scp_images.store.sql import imports as job_store
from scp_images.store.sql.database import Database
from scp_images.store.sql.imports import JobStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_bytes: int
    max_virtual_size: int


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


def new_blob_key(image_id: str) -> str:
    # A fresh key per attempt: a stale attempt that commits late can never overwrite the winner's bytes.
    return f"images/{image_id}/{secrets.token_hex(8)}"


class IngestService:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        limits: IngestLimits,
        clock: Clock = system_clock,
        observer: ImportObserver | None = None,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._limits = limits
        self._clock = clock
        self._observer = observer or NoObserver()

    def ingest_into(
        self,
        image_id: str,
        chunks: Iterable[bytes],
        *,
        from_status: ImageStatus = ImageStatus.IMPORTING,
        progress: Callable[[int], None] | None = None,
    ) -> IngestResult:
        """Stream ``chunks`` into a new blob and make the image active; all or nothing."""
        key = new_blob_key(image_id)
        with self._blobs.writer(key) as writer:
            result = ingest(
                chunks,
                writer,
                max_bytes=self._limits.max_bytes,
                max_virtual_size=self._limits.max_virtual_size,
                progress=progress,
            )
            writer.commit()
        try:
            self._activate(image_id, key, result, from_status)
        except BaseException:
            self._blobs.delete(key)
            raise
        return result

    def _activate(self, image_id: str, key: str, result: IngestResult, from_status: ImageStatus) -> None:
        changes = {
            "status": ImageStatus.ACTIVE,
            "size": result.size,
            "checksum": result.checksum,
            "os_hash_algo": result.os_hash_algo,
            "os_hash_value": result.os_hash_value,
            "virtual_size": result.virtual_size,
            "blob_key": key,
            "updated_at": self._clock(),
        }
        with self._db.transaction() as conn:
            if not image_store.update_image(conn, image_id, changes, from_status=from_status):
                raise ConcurrentUpdate(image_id=image_id)

    def ingest_or_kill(
        self,
        image_id: str,
        chunks: Iterable[bytes],
        *,
        worker: str | None = None,
        progress: Callable[[int], None] | None = None,
        reraise: bool = False,
    ) -> IngestResult | None:
        """Run an import to its end: the image ends active, or killed with the reason on its record.
        Returns None when it failed (or the image disappeared); with ``reraise`` a refusal is raised
        after the image is killed, so a caller waiting on it hears why."""
        started = time.monotonic()
        try:
            result = self.ingest_into(image_id, chunks, progress=progress)
        except IngestCancelled:
            self._observer.import_finished("cancelled", None, 0, time.monotonic() - started)
            return None
        except Exception as exc:
            self._kill(image_id, failure_reason(exc), worker)
            reason = exc.reason if isinstance(exc, DiskImageRejected) else type(exc).__name__
            self._observer.import_finished("killed", reason, 0, time.monotonic() - started)
            if not isinstance(exc, DomainError):
                log.exception("import of image %s failed", image_id)
            elif reraise:
                raise
            return None
        with self._db.transaction() as conn:
            job_store.finish(conn, image_id, JobStatus.SUCCEEDED, self._clock(), bytes_read=result.size)
        self._observer.import_finished("active", None, result.size, time.monotonic() - started)
        return result

    def heartbeat(self, image_id: str, worker: str, interval: float) -> Callable[[int], None]:
        """A progress callback that records bytes read and proves the worker alive; it stops the
        ingest when the job is no longer this worker's (image deleted, or reclaimed)."""
        interval = min(1.0, interval)
        last = [time.monotonic()]

        def beat(bytes_read: int) -> None:
            now = time.monotonic()
            if now - last[0] < interval:
                return
            last[0] = now
            with self._db.transaction() as conn:
                ours = job_store.heartbeat(conn, image_id, worker, self._clock(), bytes_read)
            if not ours:
                raise IngestCancelled(image_id)

        return beat

    def _kill(self, image_id: str, reason: str, worker: str | None) -> None:
        now = self._clock()
        with self._db.transaction() as conn:
            image_store.update_image(
                conn,
                image_id,
                {"status": ImageStatus.KILLED, "updated_at": now},
                from_status=ImageStatus.IMPORTING,
            )
            job_store.finish(conn, image_id, JobStatus.FAILED, now, reason=reason, worker=worker)

    def publish_file(self, request: PublishRequest) -> Image:
        """The operator's import of a local qcow2; a refused file leaves neither row nor blob."""
        image = self._new_image(request)
        worker = f"admin:{os.getpid()}:{secrets.token_hex(4)}"
        with self._db.transaction() as conn:
            image_store.insert_image(conn, image)
            job_store.put_job(conn, image.id, None, "local", image.created_at, JobStatus.RUNNING, worker)
        try:
            result = self.ingest_into(
                image.id, read_file_chunks(request.path), progress=self.heartbeat(image.id, worker, 5)
            )
            with self._db.transaction() as conn:
                job_store.finish(conn, image.id, JobStatus.SUCCEEDED, self._clock(), bytes_read=result.size)
        except BaseException:
            with self._db.transaction() as conn:
                image_store.delete_image(conn, image.id)
            raise
        with self._db.transaction() as conn:
            stored = image_store.get_image(conn, image.id)
        assert stored is not None
        return stored

    def _new_image(self, request: PublishRequest) -> Image:
        with self._db.transaction() as conn:
            account = account_store.get_account(conn, request.owner)
        if account is None:
            raise AccountNotFound(account_id=request.owner)
        if not request.name or len(request.name) > 255:
            raise InvalidRequest(reason="an image name has 1 to 255 characters")
        now = self._clock()
        return Image(
            id=new_image_id(),
            name=request.name,
            owner=account.id,
            status=ImageStatus.IMPORTING,
            visibility=request.visibility,
            created_at=now,
            updated_at=now,
            protected=request.protected,
            os_hidden=request.hidden,
            os_distro=request.os_distro,
            owner_account_name=account.name,
            owner_user_name=request.user_name,
            root_device_name="/dev/vda",
            scp_image_type=request.image_type,
            scp_original_image_type=request.image_type,
            scp_os_version=request.os_version,
        )


def failure_reason(error: BaseException) -> str:
    """The text kept on the import record and shown by ``GET /v1/images/{id}/import``."""
    if isinstance(error, DiskImageRejected):
        return f"{error.reason}: {error.params['detail']}"
    if isinstance(error, DomainError):
        return error.message
    return f"internal error: {type(error).__name__}"
