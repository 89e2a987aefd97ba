"""Audit records: insert, read newest first or oldest first, and the retention sweep's delete. There is
no update: records are append-only (a trigger refuses an UPDATE)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from scp_images.domain.audit import ActorKind, AuditRecord
from scp_images.store.sql.tables import audit_records, images

_FIELDS = (
    "at",
    "actor_kind",
    "action",
    "actor",
    "account_id",
    "access_key",
    "request_id",
    "image_id",
    "member_id",
    "status",
    "error_code",
    "detail",
    "role",
)


def _values(record: AuditRecord) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(record, name) for name in _FIELDS}
    values["actor_kind"] = record.actor_kind.value
    if record.account_id is None and record.image_id is not None and record.actor_kind is not ActorKind.API:
        # Workers and operators act on an account's image: the record names the owner, in the same
        # statement (no extra round trip). A deleted image leaves it empty; an API record names the caller
        # (none before authentication).
        values["account_id"] = select(images.c.owner).where(images.c.id == record.image_id).scalar_subquery()
    return values


def insert_record(conn: Connection, record: AuditRecord) -> None:
    conn.execute(insert(audit_records).values(**_values(record)))


def insert_unless_recorded(conn: Connection, record: AuditRecord) -> None:
    """Insert, unless a record of the same request exists already (the change it describes wrote it)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(audit_records).values(**_values(record)).on_conflict_do_nothing())


def _record(row: Any) -> AuditRecord:
    values = {name: getattr(row, name) for name in _FIELDS}
    values["actor_kind"] = ActorKind(values["actor_kind"])
    return AuditRecord(id=row.id, **values)


def list_records(
    conn: Connection,
    *,
    account_id: str | None = None,
    image_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[AuditRecord]:
    """Newest first."""
    query = select(audit_records)
    if account_id is not None:
        query = query.where(audit_records.c.account_id == account_id)
    if image_id is not None:
        query = query.where(audit_records.c.image_id == image_id)
    if since is not None:
        query = query.where(audit_records.c.at >= since)
    query = query.order_by(audit_records.c.at.desc(), audit_records.c.id.desc()).limit(limit)
    return [_record(row) for row in conn.execute(query)]


def records_after(
    conn: Connection, since: datetime, after: tuple[datetime, int] | None, limit: int
) -> list[AuditRecord]:
    """Oldest first from ``since``, continuing after the (at, id) of the last record already read."""
    query = select(audit_records).where(audit_records.c.at >= since)
    if after is not None:
        at, record_id = after
        query = query.where(
            or_(audit_records.c.at > at, and_(audit_records.c.at == at, audit_records.c.id > record_id))
        )
    query = query.order_by(audit_records.c.at, audit_records.c.id).limit(limit)
    return [_record(row) for row in conn.execute(query)]


def delete_before(conn: Connection, cutoff: datetime, limit: int) -> int:
    """The retention sweep: remove up to ``limit`` records older than ``cutoff``; how many went."""
    oldest = select(audit_records.c.id).where(audit_records.c.at < cutoff).order_by(audit_records.c.id)
    query = delete(audit_records).where(audit_records.c.id.in_(oldest.limit(limit)))
    return int(conn.execute(query).rowcount)
