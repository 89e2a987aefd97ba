"""Image use cases seen by API callers: show, list, create, update, delete, import, download."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from scp_images.domain.access import (
    downloadable_statuses,
    list_scope,
    pending_scope,
    require_owner,
    require_visible,
)
from scp_images.domain.audit import AuditAction
from scp_images.domain.disk_formats import DiskFormat
from scp_images.domain.errors import (
    ConcurrentUpdate,
    ImageProtected,
    ImportNotFound,
    InvalidImageStatus,
    InvalidRequest,
    OwnerNotChangeable,
    OwnerNotYours,
)
from scp_images.domain.image import (
    IMPORTABLE_STATUSES,
    MAX_MIN_DISK,
    MAX_MIN_RAM,
    MAX_NAME_LENGTH,
    Image,
    ImageSpec,
    ImageStatus,
    new_image,
    parse_image_id,
    require_user_settable,
)
from scp_images.domain.jobs import ImportJob, JobFence, JobRequest, JobSource, JobStatus
from scp_images.domain.listing import ListQuery
from scp_images.domain.principal import Principal, check_project_id
from scp_images.domain.properties import (
    check_container_format,
    check_disk_format,
    check_properties,
    check_tags,
)
from scp_images.domain.sources import redact_url
from scp_images.domain.tasks import ImportMethod, LegacyImport, import_request, legacy_request
from scp_images.services import audit
from scp_images.services.access.sources import ImportSources
from scp_images.services.audit import AuditContext, for_principal
from scp_images.services.clock import Clock, system_clock
from scp_images.services.data.downloads import Download, ImageData, Redirects
from scp_images.services.observer import DownloadObserver
from scp_images.services.quotas import QuotaService
from scp_images.store.blob.base import BlobStore
from scp_images.store.sql import accounts as account_store
from scp_images.store.sql import images as image_store
from scp_images.store.sql import imports as job_store
from scp_images.store.sql.database import Database

UPDATABLE_FIELDS = frozenset(
    {
        "min_disk",
        "min_ram",
        "owner",  # an admin's only (``_checked_changes``)
        "protected",
        "visibility",
        # Changed through the OpenStack Image API only (the SCP edge's body names the four above).
        "name",
        "os_hidden",
        "os_distro",
        "tags",
        "properties",
        "disk_format",
        "container_format",
    }
)
# What describes the bytes can change only while there are none yet (Glance's rule).
_BEFORE_DATA_FIELDS = frozenset({"disk_format", "container_format"})


class ImageService:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        sources: ImportSources,
        quotas: QuotaService,
        clock: Clock = system_clock,
        on_job: Any = None,
        downloads: DownloadObserver | None = None,
        redirects: Redirects | None = None,
    ) -> None:
        self._db = db
        self._quotas = quotas
        self._data = ImageData(db, blobs, downloads, redirects)
        self._blobs = blobs
        self._sources = sources
        self._clock = clock
        self._on_job = on_job or (lambda: None)

    def show(self, principal: Principal, image_id: str) -> Image:
        image_id = parse_image_id(image_id)
        # One SELECT (the image joined with the caller's membership), no transaction around it.
        image, member_status = image_store.read_image_for(self._db, image_id, principal.account_id)
        return require_visible(image, image_id, principal.account_id, member_status, admin=principal.is_admin)

    def list_visible(self, principal: Principal, query: ListQuery) -> list[Image]:
        scope = list_scope(
            principal.account_id,
            query.visibility,
            query.member_statuses,
            every_visibility=query.every_visibility,
            admin=principal.is_admin,
        )
        if query.marker is None and not query.properties:
            # One SELECT (a property filter may run two): a snapshot by itself, no BEGIN and COMMIT.
            with self._db.read_one() as conn:
                return image_store.list_images(conn, scope, query, None)
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
            return require_visible(
                image, marker_id, principal.account_id, member_status, admin=principal.is_admin
            )
        except Exception:
            raise InvalidRequest(reason=f"marker {marker_id} is not an image you can list") from None

    def create(
        self,
        principal: Principal,
        spec: ImageSpec,
        context: AuditContext | None = None,
        legacy_task: LegacyImport | None = None,
        input_format: str | None = None,
    ) -> Image:
        """A queued image of the caller's; when a URL is given its import job is written in the same
        transaction (a web-download task, or the ``legacy_task`` of ``POST /v2/tasks`` that asked for
        it), with the ``input_format`` its caller declared (None: detected from the bytes). The spec's
        bounds are checked by ``new_image``; whose image it is, here."""
        declared = parse_input_format(input_format)
        url = spec.url
        if url is not None:
            self._sources.check(url, principal.account_id)
        require_user_settable(spec.visibility, admin=principal.is_admin)
        owner = spec.owner or principal.account_id
        if owner != principal.account_id:
            _require_owner_settable(principal)
            check_project_id(owner)
        importing = url is not None
        with self._db.transaction() as conn:
            spec = replace(
                spec,
                owner=owner,
                owner_account_name=_owner_name(conn, principal, owner),
                owner_user_name=principal.user_name if owner == principal.account_id else None,
                status=ImageStatus.QUEUED,
                url=redact_url(url),  # the job row alone keeps a presigned URL whole
            )
            image = new_image(spec, self._clock())
            # The image counts to its owner's limits, whoever creates it.
            self._quotas.require_room(conn, owner, images=1, uploading=int(importing), bytes_room=importing)
            image_store.insert_image(conn, image)
            if url is not None:
                request = _url_request(image.id, url, principal, context, legacy_task)
                now = image.created_at
                declared = _declared(image, declared, legacy_task is not None)
                job_store.put_job(
                    conn,
                    image.id,
                    url,
                    JobSource.URL,
                    now,
                    JobStatus.PENDING,
                    request=request,
                    input_format=declared,
                )
            audit.record(
                conn,
                audit.entry(
                    context or for_principal(principal),
                    image.created_at,
                    action=AuditAction.IMAGE_CREATE,
                    image_id=image.id,
                ),
            )
        if url is not None:
            self._on_job()
        return image

    def _owned(
        self,
        conn: Any,
        principal: Principal,
        image_id: str,
        *,
        for_update: bool = False,
        admin_may: bool = False,
    ) -> Image:
        """The caller's own image; with ``admin_may``, any image for an admin (Glance's admin changes
        any image's metadata and status, never another account's bytes: no upload or import)."""
        admin = admin_may and principal.is_admin
        image, member_status = image_store.get_image_for(conn, image_id, principal.account_id)
        image = require_visible(image, image_id, principal.account_id, member_status, admin=admin)
        require_owner(image, principal.account_id, admin=admin)
        if for_update:
            locked = image_store.get_image(conn, image_id, for_update=True)
            image = require_visible(locked, image_id, principal.account_id, member_status, admin=admin)
        return image

    def update(
        self,
        principal: Principal,
        image_id: str,
        changes: dict[str, Any],
        context: AuditContext | None = None,
    ) -> Image:
        return self.modify(principal, image_id, lambda _image: changes, context)

    def modify(
        self,
        principal: Principal,
        image_id: str,
        change: Callable[[Image], dict[str, Any]],
        context: AuditContext | None = None,
    ) -> Image:
        """Writes what ``change`` computes from the image as it is now, in one transaction with the row
        locked: two read-modify-write edits (JSON patches, tag edits, whose properties and tags are whole
        documents) run one after the other and never lose each other's change."""
        image_id = parse_image_id(image_id)
        with self._db.transaction() as conn:
            image = self._owned(conn, principal, image_id, for_update=True, admin_may=True)
            changes = change(image)
            unknown = set(changes) - UPDATABLE_FIELDS
            if unknown:
                raise InvalidRequest(reason=f"these fields cannot be changed: {', '.join(sorted(unknown))}")
            kept = {k: v for k, v in changes.items() if v is not None or k == "os_distro"}
            values = _checked_changes(kept, admin=principal.is_admin)
            if values.get("owner", image.owner) != image.owner:
                # Given to another project: it counts to the new owner's image limit from now on (its
                # bytes move with it, unchecked: an admin's deliberate act; docs/decisions.md).
                self._quotas.require_room(conn, values["owner"], images=1)
                values["owner_account_name"] = _owner_name(conn, principal, values["owner"])
                values["owner_user_name"] = None
            else:
                values.pop("owner", None)
            data_fields = _BEFORE_DATA_FIELDS & values.keys()
            if image.status is not ImageStatus.QUEUED and any(
                values[k] != getattr(image, k) for k in data_fields
            ):
                raise InvalidImageStatus(image_id=image_id, status=image.status.value, expected="queued")
            if values:
                values["updated_at"] = self._clock()
                if not image_store.update_image(conn, image_id, values):
                    raise ConcurrentUpdate(image_id=image_id)
            detail = ", ".join(f"{k}={v}" for k, v in sorted(values.items()) if k != "updated_at")
            who = context or for_principal(principal)
            audit.record_change(
                conn, who, self._clock(), AuditAction.IMAGE_UPDATE, image_id=image_id, detail=detail or None
            )
            updated = image_store.get_image(conn, image_id)
        assert updated is not None
        return updated if values else image

    def set_deactivated(
        self, principal: Principal, image_id: str, deactivated: bool, context: AuditContext | None = None
    ) -> Image:
        """The owner's deactivate (no downloads) and reactivate; asking for the current state is a no-op,
        as in Glance (recorded all the same: the call was made and answered)."""
        image_id = parse_image_id(image_id)
        target = ImageStatus.DEACTIVATED if deactivated else ImageStatus.ACTIVE
        with self._db.transaction() as conn:
            image = self._owned(conn, principal, image_id, for_update=True, admin_may=True)
            if image.status is not target:
                source = ImageStatus.ACTIVE if deactivated else ImageStatus.DEACTIVATED
                if image.status is not source:
                    raise InvalidImageStatus(
                        image_id=image_id, status=image.status.value, expected=source.value
                    )
                if not image_store.move(conn, image_id, source, target, {"updated_at": self._clock()}):
                    raise ConcurrentUpdate(image_id=image_id)
            action = AuditAction.IMAGE_DEACTIVATE if deactivated else AuditAction.IMAGE_REACTIVATE
            who = context or for_principal(principal)
            audit.record_change(conn, who, self._clock(), action, image_id=image_id)
            updated = image_store.get_image(conn, image_id)
        assert updated is not None
        return updated

    def delete(self, principal: Principal, image_id: str, context: AuditContext | None = None) -> None:
        """Removes the row (members and import record with it) and then the bytes; a running import
        notices at its next heartbeat and discards what it wrote."""
        image_id = parse_image_id(image_id)
        with self._db.transaction() as conn:
            image = self._owned(conn, principal, image_id, for_update=True, admin_may=True)
            if image.protected:
                raise ImageProtected(image_id=image_id)
            job = job_store.get_job(conn, image_id)
            image_store.delete_image(conn, image_id)
            who = context or for_principal(principal)
            audit.record_change(conn, who, self._clock(), AuditAction.IMAGE_DELETE, image_id=image_id)
        if image.blob_key:
            self._blobs.delete(image.blob_key)
        if job is not None and job.original_key:  # a staged original no row names any more
            self._blobs.delete(job.original_key)

    def start_import(
        self,
        principal: Principal,
        image_id: str,
        url: str,
        context: AuditContext | None = None,
        input_format: str | None = None,
        *,
        format_from_image: bool = False,
    ) -> None:
        """Import ``url`` into a queued (or killed) image. The bytes' format is detected, or must be the
        caller's ``input_format``; with ``format_from_image`` (the OpenStack edge) it is the one the image's
        ``disk_format`` and ``container_format`` name."""
        image_id = parse_image_id(image_id)
        declared = parse_input_format(input_format)
        self._sources.check(url, principal.account_id)
        with self._db.transaction() as conn:
            image = self._owned(conn, principal, image_id, for_update=True)
            if image.status not in IMPORTABLE_STATUSES:
                raise InvalidImageStatus(
                    image_id=image_id, status=image.status.value, expected="queued or killed"
                )
            self._start_room(conn, principal, image_id)
            now = self._clock()
            changes = {"url": redact_url(url), "updated_at": now}
            if image.status is ImageStatus.QUEUED:
                applied = image_store.update_image(conn, image_id, changes, while_status=ImageStatus.QUEUED)
            else:
                applied = image_store.move(conn, image_id, image.status, ImageStatus.QUEUED, changes)
            if not applied:
                raise ConcurrentUpdate(image_id=image_id)
            request = _url_request(image_id, url, principal, context, None)
            declared = _declared(image, declared, format_from_image)
            job_store.put_job(
                conn,
                image_id,
                url,
                JobSource.URL,
                now,
                JobStatus.PENDING,
                request=request,
                input_format=declared,
            )
            who = context or for_principal(principal)
            audit.record_change(
                conn, who, self._clock(), AuditAction.IMAGE_IMPORT, image_id=image_id, detail=redact_url(url)
            )
        self._on_job()

    def _start_room(self, conn: Any, principal: Principal, image_id: str) -> None:
        """An import or upload about to start: one more transfer, and at least a byte of room. The
        image's own earlier job (replaced by the new one) does not count."""
        self._quotas.require_room(
            conn, principal.account_id, uploading=1, bytes_room=True, except_image=image_id
        )

    def finish_staged(self, principal: Principal, image_id: str, context: AuditContext | None = None) -> None:
        """glance-direct's import: staged bytes were stored and checked by the stage call already, so
        the image becomes active; a staged original in a format to convert becomes its conversion job
        (the image importing until it ends)."""
        image_id = parse_image_id(image_id)
        converting = False
        with self._db.transaction() as conn:
            image = self._owned(conn, principal, image_id, for_update=True)
            if image.status is not ImageStatus.UPLOADING:
                raise InvalidImageStatus(image_id=image_id, status=image.status.value, expected="uploading")
            job = job_store.get_job(conn, image_id)
            converting = job is not None and job.original_key is not None
            target = ImageStatus.IMPORTING if converting else ImageStatus.ACTIVE
            changes = {"updated_at": self._clock()}
            if not image_store.move(conn, image_id, ImageStatus.UPLOADING, target, changes):
                raise ConcurrentUpdate(image_id=image_id)
            if converting and not job_store.convert_staged(conn, image_id):
                raise ConcurrentUpdate(image_id=image_id)
            # The staging's job becomes the import's task (Glance records one from the import call).
            request_id = context.request_id if context else None
            job_store.set_request(
                conn, image_id, _request(image_id, ImportMethod.GLANCE_DIRECT, principal, request_id)
            )
            who = context or for_principal(principal)
            audit.record_change(
                conn, who, self._clock(), AuditAction.IMAGE_IMPORT, image_id=image_id, detail="glance-direct"
            )
        if converting:
            self._on_job()

    def import_status(self, principal: Principal, image_id: str) -> ImportJob:
        image_id = parse_image_id(image_id)
        with self._db.read() as conn:
            self._owned(conn, principal, image_id)
            job = job_store.get_job(conn, image_id)
        if job is None:
            raise ImportNotFound(image_id=image_id)
        return job

    def begin_upload(
        self,
        principal: Principal,
        image_id: str,
        worker: str,
        total: int | None = None,
        *,
        request_id: str | None = None,
        staging: bool = False,
        input_format: str | None = None,
        format_from_image: bool = False,
    ) -> JobFence:
        """Claim a queued image for a direct upload: it moves to importing, so one upload wins. ``total``
        is the body's announced length, shown by import-status as ``bytes_total``. An upload is a task
        (asked for by ``request_id``); glance-direct's ``staging`` becomes one at its import call. The
        bytes' format is detected, or must be ``input_format``; with ``format_from_image`` (the OpenStack
        edge) it is the one the image's ``disk_format`` and ``container_format`` name."""
        image_id = parse_image_id(image_id)
        declared = parse_input_format(input_format)
        with self._db.transaction() as conn:
            image = self._owned(conn, principal, image_id, for_update=True)
            if image.status is not ImageStatus.QUEUED:
                raise InvalidImageStatus(image_id=image_id, status=image.status.value, expected="queued")
            self._start_room(conn, principal, image_id)
            now = self._clock()
            changes = {"updated_at": now}
            if not image_store.move(conn, image_id, ImageStatus.QUEUED, ImageStatus.IMPORTING, changes):
                raise ConcurrentUpdate(image_id=image_id)
            request = None if staging else _request(image_id, ImportMethod.UPLOAD, principal, request_id)
            declared = _declared(image, declared, format_from_image)
            fence = job_store.put_job(
                conn,
                image_id,
                None,
                JobSource.UPLOAD,
                now,
                JobStatus.RUNNING,
                worker,
                total,
                request,
                declared,
            )
        assert fence is not None
        return fence

    def download(self, principal: Principal, image_id: str) -> Download:
        image = self.show(principal, image_id)
        admin = principal.is_admin
        self._data.check_downloadable(image, admin=admin)
        if image.status not in downloadable_statuses(admin=admin) or image.blob_key is None:
            raise InvalidImageStatus(image_id=image.id, status=image.status.value, expected="active")
        return self._data.download(image, admin=admin)


def parse_input_format(value: str | None) -> str | None:
    """A caller's declared input format: a ``DiskFormat`` name, or None (detect from the bytes)."""
    if value is None:
        return None
    try:
        return DiskFormat(value.strip().lower()).value
    except ValueError:
        known = ", ".join(f.value for f in DiskFormat)
        raise InvalidRequest(
            reason=f"input_format {value[:20]!r} is not a disk format: use one of {known}"
        ) from None


def _declared(image: Image, given: str | None, from_image: bool) -> str | None:
    """The input format a job judges the bytes by: the caller's, else the image's when the edge says its
    formats name the input (OpenStack) or when they name anything but a bare qcow2 (only the OpenStack
    edge makes such images), else None: detected from the bytes."""
    if given is not None:
        return given
    if from_image or image.disk_format != DiskFormat.QCOW2.value or image.container_format == "ova":
        return input_format_of(image)
    return None


def input_format_of(image: Image) -> str:
    """What an OpenStack image says its bytes are: ``container_format: ova`` is an OVA, a ``disk_format``
    that names one of ours is that format, and any other (iso, ami, …) is judged as a qcow2, as before."""
    if image.container_format == "ova":
        return DiskFormat.OVA.value
    if image.disk_format in {f.value for f in DiskFormat}:
        return DiskFormat(image.disk_format).value
    return DiskFormat.QCOW2.value


def _request(image_id: str, method: ImportMethod, principal: Principal, request_id: str | None) -> JobRequest:
    return import_request(image_id, method, request_id=request_id, requested_by=principal.access_key)


def _url_request(
    image_id: str,
    url: str,
    principal: Principal,
    context: AuditContext | None,
    legacy_task: LegacyImport | None,
) -> JobRequest:
    """A URL job's task: web-download's, or the legacy import task's that asked for a new image."""
    request_id, user = (context.request_id if context else None), principal.access_key
    if legacy_task is not None:
        return legacy_request(image_id, legacy_task, request_id=request_id, requested_by=user)
    return import_request(
        image_id, ImportMethod.WEB_DOWNLOAD, uri=url, request_id=request_id, requested_by=user
    )


def _require_owner_settable(principal: Principal) -> None:
    if not principal.is_admin:
        raise OwnerNotYours(owner=principal.account_id)


def _owner_name(conn: Any, principal: Principal, owner: str) -> str | None:
    """The owning account's name, kept on the image row; None for an owner that is no account (an admin
    may give an image to any project id, as Glance does)."""
    if owner == principal.account_id:
        return principal.account_name
    account = account_store.get_account(conn, owner)
    return account.name if account is not None else None


def _checked_changes(changes: dict[str, Any], *, admin: bool = False) -> dict[str, Any]:
    """Each changed field within the same bounds as on create."""
    checks: dict[str, Any] = {
        "visibility": lambda visibility: require_user_settable(visibility, admin=admin),
        "tags": check_tags,
        "properties": check_properties,
        "disk_format": check_disk_format,
        "container_format": check_container_format,
    }
    if "owner" in changes:
        if not admin:
            raise OwnerNotChangeable()
        check_project_id(changes["owner"])
    values = {k: checks[k](v) if k in checks else v for k, v in changes.items()}
    if len(values.get("name", "")) > MAX_NAME_LENGTH:
        raise InvalidRequest(reason=f"an image name has at most {MAX_NAME_LENGTH} characters")
    if not 0 <= values.get("min_disk", 0) <= MAX_MIN_DISK or not 0 <= values.get("min_ram", 0) <= MAX_MIN_RAM:
        raise InvalidRequest(reason=f"min_disk is 0 to {MAX_MIN_DISK} and min_ram 0 to {MAX_MIN_RAM}")
    return values
