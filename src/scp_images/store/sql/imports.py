"""Import jobs: one row per image (its latest import), claimed by a runner with a heartbeat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from scp_images.store.sql.tables import image_imports


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ImportJob:
    image_id: str
    url: str | None
    source: str
    status: JobStatus
    bytes_read: int
    bytes_total: int | None
    reason: str | None
    attempts: int
    claimed_by: str | None
    heartbeat_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _job(row: Any) -> ImportJob:
    return ImportJob(
        row.image_id,
        row.url,
        row.source,
        JobStatus(row.status),
        row.bytes_read,
        row.bytes_total,
        row.reason,
        row.attempts,
        row.claimed_by,
        row.heartbeat_at,
        row.created_at,
        row.started_at,
        row.finished_at,
    )


def put_job(
    conn: Connection,
    image_id: str,
    url: str | None,
    source: str,
    now: datetime,
    status: JobStatus,
    claimed_by: str | None = None,
) -> None:
    """Start a fresh import record for the image, replacing an earlier one."""
    conn.execute(delete(image_imports).where(image_imports.c.image_id == image_id))
    conn.execute(
        insert(image_imports).values(
            image_id=image_id,
            url=url,
            source=source,
            status=status.value,
            bytes_read=0,
            bytes_total=None,
            reason=None,
            attempts=0,
            claimed_by=claimed_by,
            heartbeat_at=now if claimed_by else None,
            created_at=now,
            started_at=now if claimed_by else None,
            finished_at=None,
        )
    )


def get_job(conn: Connection, image_id: str) -> ImportJob | None:
    row = conn.execute(select(image_imports).where(image_imports.c.image_id == image_id)).first()
    return _job(row) if row else None


def claimable_ids(conn: Connection, stale_before: datetime, limit: int, *, skip_locked: bool) -> list[str]:
    query = (
        select(image_imports.c.image_id)
        .where(
            image_imports.c.source == "url",
            or_(
                image_imports.c.status == JobStatus.PENDING.value,
                (image_imports.c.status == JobStatus.RUNNING.value)
                & (image_imports.c.heartbeat_at < stale_before),
            ),
        )
        .order_by(image_imports.c.created_at)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return [r.image_id for r in conn.execute(query)]


def claim(conn: Connection, job: ImportJob, worker: str, now: datetime) -> bool:
    """Compare-and-set on (status, claimed_by, heartbeat): exactly one runner wins a job."""
    query = (
        update(image_imports)
        .where(
            image_imports.c.image_id == job.image_id,
            image_imports.c.status == job.status.value,
            image_imports.c.attempts == job.attempts,
        )
        .values(
            status=JobStatus.RUNNING.value,
            claimed_by=worker,
            heartbeat_at=now,
            attempts=job.attempts + 1,
            started_at=now,
            bytes_read=0,
            reason=None,
        )
    )
    return conn.execute(query).rowcount == 1


def heartbeat(conn: Connection, image_id: str, worker: str, now: datetime, bytes_read: int) -> bool:
    """False when the job is no longer ours (deleted image, or reclaimed after we looked dead)."""
    query = (
        update(image_imports)
        .where(
            image_imports.c.image_id == image_id,
            image_imports.c.claimed_by == worker,
            image_imports.c.status == JobStatus.RUNNING.value,
        )
        .values(heartbeat_at=now, bytes_read=bytes_read)
    )
    return conn.execute(query).rowcount == 1


def set_total(conn: Connection, image_id: str, total: int | None) -> None:
    conn.execute(update(image_imports).where(image_imports.c.image_id == image_id).values(bytes_total=total))


def finish(
    conn: Connection,
    image_id: str,
    status: JobStatus,
    now: datetime,
    *,
    reason: str | None = None,
    bytes_read: int | None = None,
    worker: str | None = None,
) -> bool:
    values: dict[str, Any] = {"status": status.value, "finished_at": now, "reason": reason}
    if bytes_read is not None:
        values["bytes_read"] = bytes_read
    query = update(image_imports).where(image_imports.c.image_id == image_id).values(**values)
    if worker is not None:
        query = query.where(image_imports.c.claimed_by == worker)
    return conn.execute(query).rowcount == 1


def queue_depth(conn: Connection) -> int:
    query = (
        select(func.count())
        .select_from(image_imports)
        .where(image_imports.c.status == JobStatus.PENDING.value)
    )
    return int(conn.execute(query).scalar_one())
