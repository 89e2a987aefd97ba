"""Image use cases seen by API callers: show, list, create, update, delete, import, download."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from scp_images.domain.access import list_scope, pending_scope, require_owner, require_visible
from scp_images.domain.errors import (
    ConcurrentUpdate,
    ImageProtected,
    ImportNotFound,
    InvalidImageStatus,
    InvalidRequest,
)
from scp_images.domain.image import (
    IMPORTABLE_STATUSES,
    Image,
    ImageSpec,
    ImageStatus,
    Visibility,
    new_image,
    parse_image_id,
    require_user_settable,
)
from scp_images.domain.listing import ListQuery
from scp_images.domain.principal import Principal
from scp_images.domain.sources import redact_url
from scp_images.services.clock import Clock, system_clock
from scp_images.services.downloads import ImageData
from scp_images.services.observer import DownloadObserver
from scp_images.services.sources import ImportSources
from scp_images.store.blob.base import BlobStore
from scp_images.store.sql import images as image_store
from scp_images.store.sql import imports as job_store
from scp_images.store.sql.database import Database
from scp_images.store.sql.imports import ImportJob, JobFence, JobSource, JobStatus

UPDATABLE_FIELDS = frozenset({"min_disk", "min_ram", "protected", "visibility"})


@dataclass(frozen=True, slots=True)
class NewImage:
    name: str
    os_distro: str
    url: str | None
    container_format: str = "bare"
    disk_format: str = "qcow2"
    min_disk: int = 0
    min_ram: int = 0
    protected: bool = False
    visibility: Visibility = Visibility.PRIVATE


@dataclass(frozen=True, slots=True)
class Download:
    image: Image
    size: int
    read: Callable[[int, int | None], Iterator[bytes]]  # (offset, length) -> chunks


class ImageService:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        sources: ImportSources,
        clock: Clock = system_clock,
        on_job: Any = None,
        downloads: DownloadObserver | None = None,
    ) -> None:
        self._db = db
        self._data = ImageData(db, blobs, downloads)
        self._blobs = blobs
        self._sources = sources
        self._clock = clock
        self._on_job = on_job or (lambda: None)

    def show(self, principal: Principal, image_id: str) -> Image:
        image_id = parse_image_id(image_id)
        with self._db.read_one() as conn:  # one SELECT (the image joined with the caller's membership)
            image, member_status = image_store.get_image_for(conn, image_id, principal.account_id)
        return require_visible(image, image_id, principal.account_id, member_status)

    def list_visible(self, principal: Principal, query: ListQuery) -> list[Image]:
        scope = list_scope(principal.account_id, query.visibility)
        with self._db.read() as conn:
            marker = self._marker(conn, principal, query.marker)
            return image_store.list_images(conn, scope, query, marker)

    def pending(self, principal: Principal, query: ListQuery) -> list[Image]:
        with self._db.read() as conn:
            return image_store.list_images(conn, pending_scope(principal.account_id), query, None)

    def _marker(self, conn: Any, principal: Principal, marker: str | None) -> Image | None:
        if marker is None:
            return None
        try:
            marker_id = parse_image_id(marker)
        except InvalidRequest:
            raise InvalidRequest(reason=f"marker {marker[:80]!r} is not an image id") from None
        image, member_status = image_store.get_image_for(conn, marker_id, principal.account_id)
        try:
            return require_visible(image, marker_id, principal.account_id, member_status)
        except Exception:
            raise InvalidRequest(reason=f"marker {marker_id} is not an image you can list") from None

    def create(self, principal: Principal, new: NewImage) -> Image:
        """A queued image; when a URL is given its import job is written in the same transaction."""
        if new.url is not None:
            self._sources.check(new.url, principal.account_id)
        spec = ImageSpec(
            name=new.name,
            owner=principal.account_id,
            os_distro=new.os_distro,
            visibility=require_user_settable(new.visibility),
            container_format=new.container_format,
            disk_format=new.disk_format,
            protected=new.protected,
            min_disk=new.min_disk,
            min_ram=new.min_ram,
            owner_account_name=principal.account_name,
            owner_user_name=principal.user_name,
            url=redact_url(new.url),  # the job row alone keeps a presigned URL whole
        )
        image = new_image(spec, self._clock())
        with self._db.transaction() as conn:
            image_store.insert_image(conn, image)
            if new.url is not None:
                job_store.put_job(conn, image.id, new.url, JobSource.URL, image.created_at, JobStatus.PENDING)
        if new.url is not None:
            self._on_job()
        return image

    def _owned(self, conn: Any, principal: Principal, image_id: str, *, for_update: bool = False) -> Image:
        image, member_status = image_store.get_image_for(conn, image_id, principal.account_id)
        image = require_visible(image, image_id, principal.account_id, member_status)
        require_owner(image, principal.account_id)
        if for_update:
            locked = image_store.get_image(conn, image_id, for_update=True)
            image = require_visible(locked, image_id, principal.account_id, member_status)
        return image

    def update(self, principal: Principal, image_id: str, changes: dict[str, Any]) -> Image:
        image_id = parse_image_id(image_id)
        unknown = set(changes) - UPDATABLE_FIELDS
        if unknown:
            raise InvalidRequest(reason=f"these fields cannot be changed: {', '.join(sorted(unknown))}")
        with self._db.transaction() as conn:
            image = self._owned(conn, principal, image_id)
            values = {k: v for k, v in changes.items() if v is not None}
            if "visibility" in values:
                require_user_settable(values["visibility"])
            if values:
                values["updated_at"] = self._clock()
                if not image_store.update_image(conn, image_id, values):
                    raise ConcurrentUpdate(image_id=image_id)
            updated = image_store.get_image(conn, image_id)
        assert updated is not None
        return updated if values else image

    def delete(self, principal: Principal, image_id: str) -> None:
        """Removes the row (members and import record with it) and then the bytes; a running import
        notices at its next heartbeat and discards what it wrote."""
        image_id = parse_image_id(image_id)
        with self._db.transaction() as conn:
            image = self._owned(conn, principal, image_id, for_update=True)
            if image.protected:
                raise ImageProtected(image_id=image_id)
            image_store.delete_image(conn, image_id)
        if image.blob_key:
            self._blobs.delete(image.blob_key)

    def start_import(self, principal: Principal, image_id: str, url: str) -> None:
        image_id = parse_image_id(image_id)
        self._sources.check(url, principal.account_id)
        with self._db.transaction() as conn:
            image = self._owned(conn, principal, image_id, for_update=True)
            if image.status not in IMPORTABLE_STATUSES:
                raise InvalidImageStatus(
                    image_id=image_id, status=image.status.value, expected="queued or killed"
                )
            now = self._clock()
            changes = {"url": redact_url(url), "updated_at": now}
            if image.status is ImageStatus.QUEUED:
                applied = image_store.update_image(conn, image_id, changes, while_status=ImageStatus.QUEUED)
            else:
                applied = image_store.move(conn, image_id, image.status, ImageStatus.QUEUED, changes)
            if not applied:
                raise ConcurrentUpdate(image_id=image_id)
            job_store.put_job(conn, image_id, url, JobSource.URL, now, JobStatus.PENDING)
        self._on_job()

    def import_status(self, principal: Principal, image_id: str) -> ImportJob:
        image_id = parse_image_id(image_id)
        with self._db.read() as conn:
            self._owned(conn, principal, image_id)
            job = job_store.get_job(conn, image_id)
        if job is None:
            raise ImportNotFound(image_id=image_id)
        return job

    def begin_upload(self, principal: Principal, image_id: str, worker: str) -> JobFence:
        """Claim a queued image for a direct upload: it moves to importing, so one upload wins."""
        image_id = parse_image_id(image_id)
        with self._db.transaction() as conn:
            image = self._owned(conn, principal, image_id, for_update=True)
            if image.status is not ImageStatus.QUEUED:
                raise InvalidImageStatus(image_id=image_id, status=image.status.value, expected="queued")
            now = self._clock()
            changes = {"updated_at": now}
            if not image_store.move(conn, image_id, ImageStatus.QUEUED, ImageStatus.IMPORTING, changes):
                raise ConcurrentUpdate(image_id=image_id)
            fence = job_store.put_job(conn, image_id, None, JobSource.UPLOAD, now, JobStatus.RUNNING, worker)
        assert fence is not None
        return fence

    def download(self, principal: Principal, image_id: str) -> Download:
        image = self.show(principal, image_id)
        if image.status is not ImageStatus.ACTIVE or image.blob_key is None:
            raise InvalidImageStatus(image_id=image.id, status=image.status.value, expected="active")
        return Download(image, image.size or 0, self._data.reader(image))
