"""The audit trail: every state change is recorded in the transaction that makes it, so a failed record
fails the change (503) instead of letting it happen unrecorded.

How other use cases record an action (the API for every part, operator commands included)::

    with self._db.transaction() as conn:
        ...  # the change
        audit.record_change(conn, context, self._clock(), AuditAction.X, account_id=...)

``context`` says who acts: ``for_principal`` (an API caller; the HTTP edge builds it with the request id),
``operator()`` (``scp-images admin …``) or ``worker(worker_id)``. Refused and failed calls change nothing;
the edge records them with ``AuditTrail.record_alone``, which never raises.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from scp_images.domain.audit import (
    MAX_ACTOR,
    MAX_DETAIL,
    MAX_ERROR_CODE,
    ActorKind,
    AuditAction,
    AuditRecord,
    as_text,
    bounded,
)
from scp_images.domain.errors import AuditUnavailable, DomainError, RateLimited
from scp_images.domain.principal import Principal
from scp_images.services.access.ratelimit import LocalTokenBucket
from scp_images.services.clock import Clock, system_clock
from scp_images.store.sql import audit as audit_store
from scp_images.store.sql.database import Database

log = logging.getLogger("scp_images.audit")

# The sweep deletes in batches, so it never holds the write lock (SQLite) or many row locks for long.
SWEEP_BATCH = 5000
_EXPORT_BATCH = 1000


def _no_status(_: BaseException) -> int | None:
    return None


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who acts and under which request: built by the caller of a use case (the HTTP edge, the admin CLI,
    a worker), written by the use case inside its own transaction."""

    kind: ActorKind
    actor: str | None = None
    account_id: str | None = None
    access_key: str | None = None
    request_id: str | None = None
    action: str | None = None  # the call's own action (wins); None lets the use case say what happened
    ok_status: int | None = None  # what the edge answers when the use case returns
    status_of: Callable[[BaseException], int | None] = _no_status  # what it answers for an error
    role: str | None = None  # an API caller's role, as it acted (Principal.acting_role)


def for_principal(
    principal: Principal,
    action: str | None = None,
    request_id: str | None = None,
    ok_status: int | None = None,
    status_of: Callable[[BaseException], int | None] = _no_status,
) -> AuditContext:
    return AuditContext(
        ActorKind.API,
        None,
        principal.account_id,
        principal.access_key,
        request_id,
        action,
        ok_status,
        status_of,
        principal.acting_role.value,
    )


def _operator_name() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def operator(action: str | None = None) -> AuditContext:
    """The operator running ``scp-images admin …`` (or a process's start-up): user@host."""
    return AuditContext(ActorKind.OPERATOR, as_text(_operator_name(), MAX_ACTOR), action=action)


def worker(worker_id: str) -> AuditContext:
    return AuditContext(ActorKind.WORKER, as_text(worker_id, MAX_ACTOR))


def error_code(error: BaseException) -> str:
    return error.code if isinstance(error, DomainError) else DomainError.code


def entry(
    context: AuditContext,
    at: datetime,
    *,
    action: str,
    account_id: str | None = None,
    image_id: str | None = None,
    member_id: str | None = None,
    error: BaseException | None = None,
    detail: str | None = None,
) -> AuditRecord:
    """The record of one action; ``action`` is the use case's, the context's own action wins."""
    return AuditRecord(
        at=at,
        actor_kind=context.kind,
        action=context.action or action,
        actor=context.actor,
        account_id=account_id or context.account_id,
        access_key=context.access_key,
        request_id=context.request_id,
        image_id=image_id,
        member_id=member_id,
        status=context.ok_status if error is None else context.status_of(error),
        error_code=None if error is None else bounded(error_code(error), MAX_ERROR_CODE),
        detail=as_text(detail, MAX_DETAIL),
        role=context.role,
    )


def record(conn: Connection, written: AuditRecord) -> None:
    """Write the record of a change (``entry(...)``) in the change's own transaction (one INSERT). When it
    cannot be written, ``AuditUnavailable`` (503) is raised and the transaction, the change with it, rolls
    back."""
    try:
        audit_store.insert_record(conn, written)
    except SQLAlchemyError as exc:
        log.error(
            "the audit record could not be written; the change is refused: %s",
            type(exc).__name__,
            extra={
                "audit_action": written.action,
                "image_id": written.image_id,
                "request_id": written.request_id,
            },
        )
        raise AuditUnavailable(reason="the audit trail cannot be written") from exc


def record_change(
    conn: Connection,
    context: AuditContext | None,
    at: datetime,
    action: str,
    *,
    account_id: str | None = None,
    image_id: str | None = None,
    member_id: str | None = None,
    detail: str | None = None,
) -> None:
    """``record(conn, entry(...))`` in one call: how a use case writes the record of its own change, in
    the change's transaction. ``context`` says who acts; None is the operator (``operator()``), as the
    admin commands call the use cases without one."""
    written = entry(
        context or operator(),
        at,
        action=action,
        account_id=account_id,
        image_id=image_id,
        member_id=member_id,
        detail=detail,
    )
    record(conn, written)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    account_id: str | None = None
    image_id: str | None = None
    since: datetime | None = None
    limit: int = 100


class AuditTrail:
    """Reading the trail, recording calls that changed nothing, and the retention sweep."""

    def __init__(
        self,
        db: Database,
        clock: Clock = system_clock,
        retention_days: float = 0.0,
        unauthenticated_per_second: float = 20.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._clock = clock
        self._retention = timedelta(days=retention_days) if retention_days > 0 else None
        # Anyone can send made-up keys at no cost to themselves; each would be a write transaction (on
        # SQLite the one write lock). Past this rate they are counted, not written, and the next record
        # written says how many were left out.
        self._anonymous = LocalTokenBucket(unauthenticated_per_second, clock=monotonic)
        self._left_out = 0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._clock()

    def record_alone(self, record: AuditRecord) -> bool:
        """A refused or failed call, in a transaction of its own; nothing changed, so a failure to write
        is logged and the call keeps its answer. A record of the same request written by the change
        itself wins (the request id is unique)."""
        if record.account_id is None and record.actor_kind is ActorKind.API:
            bounded_record = self._bounded(record)
            if bounded_record is None:
                return False
            record = bounded_record
        try:
            with self._db.transaction() as conn:
                audit_store.insert_unless_recorded(conn, record)
        except Exception as exc:  # the caller's own answer must not turn into this one
            log.error(
                "the audit record of a refused or failed call could not be written: %s",
                type(exc).__name__,
                extra={
                    "audit_action": record.action,
                    "request_id": record.request_id,
                    "status": record.status,
                    "access_key": record.access_key,
                },
            )
            return False
        return True

    def _bounded(self, record: AuditRecord) -> AuditRecord | None:
        """The record of an unauthenticated call, within the rate bound (None past it)."""
        with self._lock:
            try:
                self._anonymous.take("unauthenticated")
            except RateLimited:
                self._left_out += 1
                if self._left_out == 1:
                    log.warning("unauthenticated calls beyond the audit rate bound are counted, not recorded")
                return None
            left_out, self._left_out = self._left_out, 0
        if not left_out:
            return record
        note = f"{left_out} unauthenticated calls before this one were not recorded (rate bound)"
        detail = f"{note}; {record.detail}" if record.detail else note
        return replace(record, detail=as_text(detail, MAX_DETAIL))

    def list(self, query: AuditQuery) -> list[AuditRecord]:
        """Newest first."""
        with self._db.read() as conn:
            return audit_store.list_records(
                conn,
                account_id=query.account_id,
                image_id=query.image_id,
                since=query.since,
                limit=query.limit,
            )

    def export(self, since: datetime) -> Iterator[AuditRecord]:
        """Oldest first, in batches, each read on its own (no transaction held open for a long export)."""
        after: tuple[datetime, int] | None = None
        while True:
            with self._db.read() as conn:
                batch = audit_store.records_after(conn, since, after, _EXPORT_BATCH)
            yield from batch
            if len(batch) < _EXPORT_BATCH:
                return
            after = (batch[-1].at, batch[-1].id or 0)

    def sweep(self, actor: str) -> int:
        """Remove records older than the retention (none when it is 0); the removal is itself recorded."""
        if self._retention is None:
            return 0
        now = self._clock()
        cutoff = now - self._retention
        removed = 0
        while True:
            with self._db.transaction() as conn:
                gone = audit_store.delete_before(conn, cutoff, SWEEP_BATCH)
                if gone:
                    detail = f"removed {gone} records older than {cutoff.isoformat()}Z"
                    record(conn, entry(worker(actor), now, action=AuditAction.AUDIT_SWEEP, detail=detail))
            removed += gone
            if gone < SWEEP_BATCH:
                break
        if removed:
            log.info("audit retention sweep removed %d records older than %s", removed, cutoff.isoformat())
        return removed
