"""Reading import jobs as tasks (``domain/tasks.py``): each with its image's owner, those nobody asked
for and those expired left out. Writes stay in ``imports.py``: a task is a job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from scp_images.domain.jobs import ImportJob, JobStatus
from scp_images.domain.tasks import JOB_STATUS, TaskQuery, TaskSortKey
from scp_images.store.sql.imports import job_of_row
from scp_images.store.sql.tables import image_imports, images

OwnedJob = tuple[ImportJob, str]

_UPDATED_AT = func.coalesce(
    image_imports.c.finished_at, image_imports.c.started_at, image_imports.c.created_at
)
_SORT_COLUMNS: dict[TaskSortKey, Any] = {
    TaskSortKey.CREATED_AT: image_imports.c.created_at,
    TaskSortKey.UPDATED_AT: _UPDATED_AT,
    TaskSortKey.ID: image_imports.c.task_id,
    TaskSortKey.TYPE: image_imports.c.task_type,
    TaskSortKey.STATUS: image_imports.c.status,  # job and task statuses sort alike (f < p < r|p < s)
}
_FINISHED = (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value)


def _tasks(expired_before: datetime) -> Any:
    live = or_(image_imports.c.status.not_in(_FINISHED), image_imports.c.finished_at >= expired_before)
    return (
        select(image_imports, images.c.owner.label("task_owner"))
        .join(images, images.c.id == image_imports.c.image_id)
        .where(image_imports.c.task_type.is_not(None), live)
    )


def _owned(row: Any) -> OwnedJob:
    return job_of_row(row), row.task_owner


def image_tasks(conn: Connection, image_id: str, expired_before: datetime) -> list[OwnedJob]:
    query = _tasks(expired_before).where(image_imports.c.image_id == image_id)
    return [_owned(row) for row in conn.execute(query)]


def get_task(conn: Connection, task_id: str, expired_before: datetime) -> OwnedJob | None:
    row = conn.execute(_tasks(expired_before).where(image_imports.c.task_id == task_id)).first()
    return _owned(row) if row else None


def _sort_keys(query: TaskQuery) -> list[TaskSortKey]:
    """Glance's order: the sort key, then created_at and id (each once), all in one direction."""
    first = query.sort_key
    return [first, *(k for k in (TaskSortKey.CREATED_AT, TaskSortKey.ID) if k is not first)]


def _after(query: TaskQuery, marker: Any) -> Any:
    """Keyset paging: the rows beyond the marker's in the query's order."""
    keys = [(_SORT_COLUMNS[k], getattr(marker, k.value)) for k in _sort_keys(query)]
    clauses = []
    for i, (column, value) in enumerate(keys):
        beyond = column < value if query.descending else column > value
        clauses.append(and_(*(c == v for c, v in keys[:i]), beyond))
    return or_(*clauses)


def list_tasks(conn: Connection, query: TaskQuery, expired_before: datetime) -> list[OwnedJob] | None:
    """A page of tasks; None when the marker names no task (Glance: 400)."""
    select_tasks = _tasks(expired_before)
    if query.status is not None:
        select_tasks = select_tasks.where(image_imports.c.status == JOB_STATUS[query.status].value)
    if query.type is not None:
        select_tasks = select_tasks.where(image_imports.c.task_type == query.type.value)
    keys = [_SORT_COLUMNS[k] for k in _sort_keys(query)]
    if query.marker is not None:
        labelled = [_SORT_COLUMNS[k].label(k.value) for k in _sort_keys(query)]
        marker_query = select(*labelled).where(
            image_imports.c.task_id == query.marker, image_imports.c.task_type.is_not(None)
        )
        marker = conn.execute(marker_query).first()
        if marker is None:
            return None
        select_tasks = select_tasks.where(_after(query, marker))
    order = [k.desc() if query.descending else k.asc() for k in keys]
    rows = conn.execute(select_tasks.order_by(*order).limit(query.limit))
    return [_owned(row) for row in rows]
