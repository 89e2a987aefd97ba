"""Quotas per account: checks made inside the transaction that creates or starts something, the bytes an
in-flight write reserves as they arrive, and the operator's overrides.

Atomicity: a check and the insert it allows run in one transaction holding the account's lock (see
``store.sql.quotas.lock_account``), so parallel requests, in one process or many, take turns. Bytes are
reserved a step ahead as they flow (one small transaction per step, not per chunk) and never past the
limit, so concurrent writers of one account cannot together store more than it; the chunk that would
pass it is refused before it is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection

from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import AccountNotFound, ImageSizeQuotaExceeded
from scp_images.domain.jobs import JobFence
from scp_images.domain.quotas import Overrides, Quota, Usage, applies, effective, require_room, reservation
from scp_images.imports.pipeline import IngestCancelled
from scp_images.services import audit
from scp_images.services.audit import AuditContext
from scp_images.services.clock import Clock, system_clock
from scp_images.store.sql import accounts as account_store
from scp_images.store.sql import images as image_store
from scp_images.store.sql import imports as job_store
from scp_images.store.sql import quotas as store
from scp_images.store.sql.database import Database

DEFAULT_STEP = 64 << 20


@dataclass(frozen=True, slots=True)
class QuotaReport:
    account_id: str
    limits: Quota
    usage: Usage


class QuotaService:
    def __init__(
        self, db: Database, defaults: Quota, step: int = DEFAULT_STEP, clock: Clock = system_clock
    ) -> None:
        self._db = db
        self._defaults = defaults
        self._step = step
        self._clock = clock

    # --- inside other use cases' transactions -------------------------------------------------

    def require_room(
        self,
        conn: Connection,
        account_id: str,
        *,
        images: int = 0,
        uploading: int = 0,
        bytes_room: bool = False,
        except_image: str | None = None,
    ) -> None:
        """Refuse (``QuotaExceeded``) what would pass a limit; call it in the transaction that then
        writes. Accounts without a relevant limit cost one indexed read and take no lock."""
        quota = self._quota(conn, account_id)
        if not applies(quota, images=images, uploading=uploading, bytes_room=bytes_room):
            return
        store.lock_account(conn, account_id)
        found = store.usage(conn, account_id, except_image=except_image)
        require_room(quota, found, images=images, uploading=uploading, bytes_room=bytes_room)

    def _quota(self, conn: Connection, account_id: str) -> Quota:
        return effective(self._defaults, store.get_overrides(conn, account_id))

    # --- bytes as they flow --------------------------------------------------------------------

    def metered(self, fence: JobFence, chunks: Iterable[bytes], *, held: int = 0) -> Iterator[bytes]:
        """``chunks`` passed on only while the account's image_size_total has room for them: a chunk
        reaching past what this write holds reserves more first, and one that would pass the limit
        raises ``ImageSizeQuotaExceeded`` before anyone sees it. ``held``: what the job holds already (a
        conversion's staged original), kept until the output grows past it."""
        received, reserved = 0, held
        for chunk in chunks:
            received += len(chunk)
            if received > reserved:
                reserved = self._reserve(fence, received)
            yield chunk

    def _reserve(self, fence: JobFence, received: int) -> int:
        refused: ImageSizeQuotaExceeded | None = None
        with self._db.transaction() as conn:
            image = image_store.get_image(conn, fence.image_id)
            if image is None:
                raise IngestCancelled(fence.image_id)
            limit = self._quota(conn, image.owner).bytes
            others = 0
            if limit is not None:
                store.lock_account(conn, image.owner)
                others = store.usage(conn, image.owner, except_image=fence.image_id).bytes
            try:
                held = reservation(limit, others, received, self._step)
            except ImageSizeQuotaExceeded as exc:
                # Give the reservation back in the same turn as the refusal: a writer waiting behind this
                # one must not be refused for bytes that will never be stored.
                refused, held = exc, 0
            if not job_store.set_reserved(conn, fence, held):
                raise IngestCancelled(fence.image_id)
        if refused is not None:
            raise refused
        return held

    # --- the operator's commands ---------------------------------------------------------------

    def show(self, account_id: str) -> QuotaReport:
        with self._db.read() as conn:
            return self._report(conn, account_id)

    def set(self, account_id: str, changes: Overrides, context: AuditContext | None = None) -> QuotaReport:
        """Override the named limits (``UNLIMITED`` lifts one); limits not named keep their values."""
        changes.validated()
        with self._db.transaction() as conn:
            self._locked(conn, account_id)
            merged = changes.over(store.get_overrides(conn, account_id))
            store.put_overrides(conn, account_id, merged, self._clock())
            detail = " ".join(f"{key}={getattr(merged, key)}" for key in ("images", "bytes", "uploading"))
            audit.record_change(
                conn, context, self._clock(), AuditAction.QUOTA_SET, account_id=account_id, detail=detail
            )
            return self._report(conn, account_id)

    def reset(self, account_id: str, context: AuditContext | None = None) -> QuotaReport:
        """Remove the account's overrides: the defaults of the settings apply again."""
        with self._db.transaction() as conn:
            self._locked(conn, account_id)
            store.delete_overrides(conn, account_id)
            audit.record_change(conn, context, self._clock(), AuditAction.QUOTA_RESET, account_id=account_id)
            return self._report(conn, account_id)

    def _locked(self, conn: Connection, account_id: str) -> None:
        if not store.lock_account(conn, account_id):
            raise AccountNotFound(account_id=account_id)

    def _report(self, conn: Connection, account_id: str) -> QuotaReport:
        if not account_store.account_exists(conn, account_id):
            raise AccountNotFound(account_id=account_id)
        return QuotaReport(account_id, self._quota(conn, account_id), store.usage(conn, account_id))
