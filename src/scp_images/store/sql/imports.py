"""Import jobs: one row per image (its latest import, upload or operator import), claimed by one writer.

A row is owned by the attempt that claimed it, ``(claimed_by, attempts)``: a ``JobFence``. Every write a
writer makes after its claim (heartbeat, staging key, finish) is conditional on its fence, so an attempt
that was superseded while it stalled can change nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from scp_images.domain.disk_formats import OriginalDisk
from scp_images.domain.jobs import (
    ImportJob,
    ImportPhase,
    JobFence,
    JobRequest,
    JobSource,
    JobStatus,
    StagedDisk,
)
from scp_images.store.sql.tables import image_imports


def _request(row: Any) -> JobRequest | None:
    if row.task_type is None:
        return None
    return JobRequest(row.task_id, row.task_type, row.task_input or {}, row.request_id, row.requested_by)


def _request_values(request: JobRequest | None) -> dict[str, Any]:
    if request is None:
        return {
            "task_id": None,
            "task_type": None,
            "task_input": None,
            "request_id": None,
            "requested_by": None,
        }
    return {
        "task_id": request.task_id,
        "task_type": request.task_type,
        "task_input": request.task_input,
        "request_id": request.request_id,
        "requested_by": request.requested_by,
    }


def job_of_row(row: Any) -> ImportJob:
    return ImportJob(
        row.image_id,
        row.url,
        JobSource(row.source),
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
        row.staging_key,
        _request(row),
        ImportPhase(row.phase) if row.phase else None,
        row.percent,
        row.input_format,
        _original(row),
        row.original_key,
        row.original_virtual_size,
        row.member_offset,
        row.member_size,
    )


def _original(row: Any) -> OriginalDisk | None:
    # The format and size are written when the original is staged; its sha512 may come later (None until
    # the conversion computed it).
    if row.original_format is None or row.original_size is None:
        return None
    return OriginalDisk(row.original_format, row.original_size, row.original_sha512)


# What a claim or a hand-back keeps reserved: a staged original's bytes stay counted to the account.
_ORIGINAL_HELD = func.coalesce(image_imports.c.original_size, 0)


def put_job(
    conn: Connection,
    image_id: str,
    url: str | None,
    source: JobSource,
    now: datetime,
    status: JobStatus,
    claimed_by: str | None = None,
    bytes_total: int | None = None,
    request: JobRequest | None = None,
    input_format: str | None = None,
) -> JobFence | None:
    """Start a fresh import record for the image, replacing an earlier one (and its task); a claimed
    record's fence. ``request``: who asked for it (None: not a task, yet). ``input_format``: the disk
    format its caller declared (None: detected from the bytes)."""
    conn.execute(delete(image_imports).where(image_imports.c.image_id == image_id))
    conn.execute(
        insert(image_imports).values(
            image_id=image_id,
            url=url,
            source=source.value,
            status=status.value,
            bytes_read=0,
            bytes_total=bytes_total,
            reason=None,
            attempts=0,
            claimed_by=claimed_by,
            heartbeat_at=now if claimed_by else None,
            created_at=now,
            started_at=now if claimed_by else None,
            finished_at=None,
            staging_key=None,
            bytes_reserved=0,
            phase=ImportPhase.RECEIVING.value,
            input_format=input_format,
            **_request_values(request),
        )
    )
    return JobFence(image_id, claimed_by, 0) if claimed_by else None


def set_request(conn: Connection, image_id: str, request: JobRequest) -> bool:
    """Say who asked for the image's job (glance-direct's import call, after its staging)."""
    query = (
        update(image_imports).where(image_imports.c.image_id == image_id).values(**_request_values(request))
    )
    return conn.execute(query).rowcount == 1


def get_job(conn: Connection, image_id: str) -> ImportJob | None:
    row = conn.execute(select(image_imports).where(image_imports.c.image_id == image_id)).first()
    return job_of_row(row) if row else None


def _stale(stale_before: datetime) -> Any:
    return (image_imports.c.status == JobStatus.RUNNING.value) & (image_imports.c.heartbeat_at < stale_before)


def claimable_ids(conn: Connection, stale_before: datetime, limit: int, *, skip_locked: bool) -> list[str]:
    """URL imports, and any job whose original is staged for conversion (an upload's too): both can be
    run, or taken over, by any runner."""
    query = (
        select(image_imports.c.image_id)
        .where(
            or_(image_imports.c.source == JobSource.URL.value, image_imports.c.original_key.is_not(None)),
            or_(image_imports.c.status == JobStatus.PENDING.value, _stale(stale_before)),
        )
        .order_by(image_imports.c.created_at)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return [r.image_id for r in conn.execute(query)]


def claim(conn: Connection, job: ImportJob, worker: str, now: datetime, stale_before: datetime) -> bool:
    """Compare-and-set on (status, attempts) and staleness: exactly one runner wins a pending job or a job
    whose writer stopped beating, and a writer that beat again since it was seen keeps its job."""
    query = (
        update(image_imports)
        .where(
            image_imports.c.image_id == job.image_id,
            image_imports.c.status == job.status.value,
            image_imports.c.attempts == job.attempts,
            or_(image_imports.c.status == JobStatus.PENDING.value, _stale(stale_before)),
        )
        .values(
            status=JobStatus.RUNNING.value,
            claimed_by=worker,
            heartbeat_at=now,
            attempts=job.attempts + 1,
            started_at=now,
            bytes_read=0,
            reason=None,
            staging_key=None,
            bytes_reserved=_ORIGINAL_HELD,
            percent=None,
        )
    )
    return conn.execute(query).rowcount == 1


def _fenced(fence: JobFence) -> Any:
    return (
        (image_imports.c.image_id == fence.image_id)
        & (image_imports.c.claimed_by == fence.worker)
        & (image_imports.c.attempts == fence.attempt)
        & (image_imports.c.status == JobStatus.RUNNING.value)
    )


def heartbeat(conn: Connection, fence: JobFence, now: datetime, bytes_read: int) -> bool:
    """False when the job is no longer ours (deleted image, or reclaimed after we looked dead)."""
    query = update(image_imports).where(_fenced(fence)).values(heartbeat_at=now, bytes_read=bytes_read)
    return conn.execute(query).rowcount == 1


def set_staging_key(conn: Connection, fence: JobFence, key: str, now: datetime) -> bool:
    """Name the blob this attempt is about to write, before its first byte: that makes it owned."""
    query = update(image_imports).where(_fenced(fence)).values(staging_key=key, heartbeat_at=now)
    return conn.execute(query).rowcount == 1


def set_reserved(conn: Connection, fence: JobFence, reserved: int) -> bool:
    """Record the bytes this attempt holds of its account's quota; False when the job is no longer ours."""
    query = update(image_imports).where(_fenced(fence)).values(bytes_reserved=reserved)
    return conn.execute(query).rowcount == 1


def set_total(conn: Connection, fence: JobFence, total: int | None) -> None:
    conn.execute(update(image_imports).where(_fenced(fence)).values(bytes_total=total))


def finish(
    conn: Connection,
    fence: JobFence,
    status: JobStatus,
    now: datetime,
    *,
    reason: str | None = None,
    bytes_read: int | None = None,
) -> bool:
    """End this attempt; False (and nothing changed) when the job is no longer this attempt's."""
    values: dict[str, Any] = {"status": status.value, "finished_at": now, "reason": reason}
    # The attempt's blob and a staged original are no longer owned: the caller removes them after commit.
    values["staging_key"] = None
    values["original_key"] = None
    if status is JobStatus.SUCCEEDED:
        # A finished job is in no phase; a failed one keeps the phase it failed in (the status shows it).
        values["phase"] = None
        values["percent"] = None
    if bytes_read is not None:
        values["bytes_read"] = bytes_read
    return conn.execute(update(image_imports).where(_fenced(fence)).values(**values)).rowcount == 1


def release(conn: Connection, fence: JobFence) -> bool:
    """Hand an unfinished job back (its writer is shutting down): pending again, for any runner to claim at
    once, and the attempt it had not finished does not count."""
    query = (
        update(image_imports)
        .where(_fenced(fence))
        .values(
            status=JobStatus.PENDING.value,
            claimed_by=None,
            heartbeat_at=None,
            staging_key=None,
            bytes_read=0,
            bytes_reserved=_ORIGINAL_HELD,
            attempts=image_imports.c.attempts - 1,
        )
    )
    return conn.execute(query).rowcount == 1


def fail_abandoned(
    conn: Connection, job: ImportJob, now: datetime, reason: str, stale_before: datetime
) -> bool:
    """Fail a running job whose writer stopped beating, as long as it is still exactly as ``job`` saw it
    (the same attempt, still stale): a writer that beat again in between keeps its job."""
    query = (
        update(image_imports)
        .where(
            image_imports.c.image_id == job.image_id,
            image_imports.c.attempts == job.attempts,
            _stale(stale_before),
        )
        .values(
            status=JobStatus.FAILED.value, finished_at=now, reason=reason, staging_key=None, original_key=None
        )
    )
    return conn.execute(query).rowcount == 1


def staging_key_owned(conn: Connection, key: str) -> bool:
    """Owned by a job: the blob an attempt writes, or a staged original waiting for its conversion."""
    where = or_(image_imports.c.staging_key == key, image_imports.c.original_key == key)
    query = select(image_imports.c.image_id).where(where).limit(1)
    return conn.execute(query).first() is not None


def staging_keys(conn: Connection) -> set[str]:
    rows = conn.execute(select(image_imports.c.staging_key).where(image_imports.c.staging_key.is_not(None)))
    originals = conn.execute(
        select(image_imports.c.original_key).where(image_imports.c.original_key.is_not(None))
    )
    return {r.staging_key for r in rows} | {r.original_key for r in originals}


def stage_original(
    conn: Connection,
    fence: JobFence,
    key: str,
    original: OriginalDisk,
    staged: StagedDisk,
    *,
    hand_over: JobStatus | None,
) -> bool:
    """The received original is committed under ``key`` (this attempt's staging key until now): the job
    names it as its original from now on, holds its size of the account's quota, and is converting.
    ``hand_over``: PENDING (any runner may take it: an upload's request ends here), SUCCEEDED (staged,
    waiting for glance-direct's import call), or None (this attempt converts it at once)."""
    values: dict[str, Any] = {
        "staging_key": None,
        "original_key": key,
        "original_format": original.disk_format,
        "original_size": original.size,
        "original_sha512": original.sha512,
        "original_virtual_size": staged.virtual_size,
        "member_offset": staged.member_offset,
        "member_size": staged.member_size,
        "bytes_read": original.size,
        "bytes_reserved": original.size,
        "phase": ImportPhase.CONVERTING.value,
        "percent": 0,
    }
    if hand_over is not None:
        values.update(status=hand_over.value, claimed_by=None, heartbeat_at=None)
    return conn.execute(update(image_imports).where(_fenced(fence)).values(**values)).rowcount == 1


def set_original_sha512(conn: Connection, fence: JobFence, sha512: str) -> bool:
    """The staged original's sha512, once this attempt's conversion computed it (the import status shows
    it); False when the job is no longer this attempt's."""
    query = update(image_imports).where(_fenced(fence)).values(original_sha512=sha512)
    return conn.execute(query).rowcount == 1


def convert_staged(conn: Connection, image_id: str) -> bool:
    """glance-direct's import call on a staged original: the conversion job becomes claimable."""
    query = (
        update(image_imports)
        .where(
            image_imports.c.image_id == image_id,
            image_imports.c.original_key.is_not(None),
            image_imports.c.status == JobStatus.SUCCEEDED.value,
        )
        .values(status=JobStatus.PENDING.value, finished_at=None, bytes_reserved=_ORIGINAL_HELD)
    )
    return conn.execute(query).rowcount == 1


def set_phase(
    conn: Connection, fence: JobFence, now: datetime, phase: ImportPhase, percent: int | None
) -> bool:
    """Where this attempt is (and proof it is alive); False when the job is no longer this attempt's."""
    query = (
        update(image_imports)
        .where(_fenced(fence))
        .values(phase=phase.value, percent=percent, heartbeat_at=now)
    )
    return conn.execute(query).rowcount == 1


def pending_queue(conn: Connection) -> tuple[int, datetime | None]:
    """How many jobs wait for a runner, and when the oldest of them was asked for (None: none waits).
    One query on ``ix_image_imports_status``: cheap enough for every metrics scrape."""
    query = (
        select(func.count(), func.min(image_imports.c.created_at))
        .select_from(image_imports)
        .where(image_imports.c.status == JobStatus.PENDING.value)
    )
    count, oldest = conn.execute(query).one()
    return int(count), oldest
