"""Glance tasks as a view of our import jobs: there is no second job system.

A job that a caller asked for (``ImportJob.request`` is set) is shown on the OpenStack edge as a task:
an import call (glance-direct, web-download), an upload, a URL import of the SCP API, or the legacy
``POST /v2/tasks``. glance-direct's staging is not a task until its import call, as in Glance. The
task's status is the job's, through ``TASK_STATUS``, the one mapping; a finished task expires after
``TASK_TIME_TO_LIVE`` (Glance's ``task_time_to_live`` default) and is no longer shown.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from scp_images.domain.errors import AdminRequired, InvalidRequest
from scp_images.domain.jobs import ImportJob, JobRequest, JobStatus
from scp_images.domain.principal import Principal
from scp_images.domain.sources import redact_url


class TaskType(StrEnum):
    API_IMAGE_IMPORT = "api_image_import"  # an import call or an upload into an existing image
    IMPORT = "import"  # POST /v2/tasks: a new image imported from a URL


class TaskStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILURE = "failure"


# The one mapping of job statuses to Glance's task statuses (and back, for the list's filter).
TASK_STATUS: Mapping[JobStatus, TaskStatus] = {
    JobStatus.PENDING: TaskStatus.PENDING,
    JobStatus.RUNNING: TaskStatus.PROCESSING,
    JobStatus.SUCCEEDED: TaskStatus.SUCCESS,
    JobStatus.FAILED: TaskStatus.FAILURE,
}
JOB_STATUS: Mapping[TaskStatus, JobStatus] = {task: job for job, task in TASK_STATUS.items()}

TASK_TIME_TO_LIVE = timedelta(hours=48)


class ImportMethod(StrEnum):
    """What a task's ``input.import_req.method.name`` says: Glance's two methods we serve, and our
    upload (``PUT …/file``), which Glance does not record as a task."""

    GLANCE_DIRECT = "glance-direct"
    WEB_DOWNLOAD = "web-download"
    UPLOAD = "upload"


# The formats a legacy import task may name as its source's (we store what we receive, unconverted).
IMPORT_FROM_FORMATS = ("qcow2", "raw")


def new_task_id() -> str:
    return str(uuid.uuid4())


def import_request(
    image_id: str,
    method: ImportMethod,
    *,
    uri: str | None = None,
    request_id: str | None,
    requested_by: str | None,
) -> JobRequest:
    """An ``api_image_import`` task: Glance's input shape, the URI redacted."""
    method_body: dict[str, Any] = {"name": method.value}
    if uri is not None:
        method_body["uri"] = redact_url(uri)
    task_input = {"image_id": image_id, "import_req": {"method": method_body}, "backend": None}
    return JobRequest(new_task_id(), TaskType.API_IMAGE_IMPORT.value, task_input, request_id, requested_by)


@dataclass(frozen=True, slots=True)
class LegacyImport:
    """The body of ``POST /v2/tasks`` (type ``import``), checked: where from, in which format, and the
    new image's properties (checked again by the image's own rules when it is made)."""

    import_from: str
    import_from_format: str
    image_properties: dict[str, Any]


def legacy_import(body: Any) -> LegacyImport:
    """``{"type": "import", "input": {"import_from", "import_from_format", "image_properties"}}``."""
    if not isinstance(body, dict) or "type" not in body or "input" not in body:
        raise InvalidRequest(reason="a task needs 'type' and 'input'")
    if set(body) - {"type", "input"}:
        raise InvalidRequest(reason="a task has only 'type' and 'input'")
    if body["type"] != TaskType.IMPORT.value:
        raise InvalidRequest(reason="only tasks of type 'import' can be created")
    given = body["input"]
    if not isinstance(given, dict):
        raise InvalidRequest(reason="a task's input is a JSON object")
    url, fmt = given.get("import_from"), given.get("import_from_format")
    properties = given.get("image_properties", {})
    if not isinstance(url, str) or not url:
        raise InvalidRequest(reason="input.import_from must be the URL to import from")
    if fmt not in IMPORT_FROM_FORMATS:
        raise InvalidRequest(reason="input.import_from_format must be qcow2 or raw")
    if not isinstance(properties, dict):
        raise InvalidRequest(reason="input.image_properties must be a JSON object")
    if properties.get("disk_format", fmt) != fmt:
        raise InvalidRequest(reason="images are stored as imported: disk_format must be import_from_format")
    return LegacyImport(url, fmt, {**properties, "disk_format": fmt})


def legacy_request(
    image_id: str, task: LegacyImport, *, request_id: str | None, requested_by: str | None
) -> JobRequest:
    task_input = {
        "import_from": redact_url(task.import_from),
        "import_from_format": task.import_from_format,
        "image_properties": task.image_properties,
    }
    request = JobRequest(new_task_id(), TaskType.IMPORT.value, task_input, request_id, requested_by)
    return request


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    type: TaskType
    status: TaskStatus
    owner: str
    image_id: str
    request_id: str | None
    user_id: str | None
    input: dict[str, Any]
    result: dict[str, Any] | None
    message: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None


def task_of(job: ImportJob, owner: str) -> Task | None:
    """The job as a task, or None when nobody asked for it through the API (not a task)."""
    request = job.request
    if request is None:
        return None
    status = TASK_STATUS[job.status]
    finished = job.finished_at if status in (TaskStatus.SUCCESS, TaskStatus.FAILURE) else None
    return Task(
        id=request.task_id,
        type=TaskType(request.task_type),
        status=status,
        owner=owner,
        image_id=job.image_id,
        request_id=request.request_id,
        user_id=request.requested_by,
        input=request.task_input,
        result={"image_id": job.image_id} if status is TaskStatus.SUCCESS else None,
        message=_message(job, status),
        created_at=job.created_at,
        updated_at=finished or job.started_at or job.created_at,
        expires_at=finished + TASK_TIME_TO_LIVE if finished else None,
    )


def _message(job: ImportJob, status: TaskStatus) -> str:
    """A failure's reason; while it runs, where the job is (Glance's running import reports its progress
    in the message too, "Copied 12 MiB"): ``converting 42%``."""
    if status is TaskStatus.FAILURE:
        return job.reason or ""
    if status is not TaskStatus.PROCESSING or job.phase is None:
        return ""
    return job.phase.value if job.percent is None else f"{job.phase.value} {job.percent}%"


def shown_since(now: datetime) -> datetime:
    """Tasks that finished before this have expired."""
    return now - TASK_TIME_TO_LIVE


def may_see_task(principal: Principal, owner: str) -> bool:
    """Glance: an admin sees every task; others only their own project's (not those of an image shared
    with them)."""
    return principal.is_admin or principal.account_id == owner


def require_tasks_api(principal: Principal) -> None:
    """Glance's ``tasks_api_access`` default (``role:admin``): ``/v2/tasks`` is for admins."""
    if not principal.is_admin:
        raise AdminRequired(what="the tasks API (/v2/tasks)")


class TaskSortKey(StrEnum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    ID = "id"
    TYPE = "type"
    STATUS = "status"


MAX_TASK_LIMIT = 1000  # Glance's api_limit_max
DEFAULT_TASK_LIMIT = 25  # Glance's limit_param_default


@dataclass(frozen=True, slots=True)
class TaskQuery:
    status: TaskStatus | None = None
    type: TaskType | None = None
    sort_key: TaskSortKey = TaskSortKey.CREATED_AT
    descending: bool = True
    marker: str | None = None
    limit: int = DEFAULT_TASK_LIMIT


def _one_of(name: str, value: str, choices: type[StrEnum]) -> Any:
    try:
        return choices(value)
    except ValueError:
        known = ", ".join(c.value for c in choices)
        raise InvalidRequest(reason=f"{name} must be one of {known}") from None


def _limit(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise InvalidRequest(reason="limit must be a whole number, 0 or more")
    return min(int(text), MAX_TASK_LIMIT)


def task_id(text: str) -> str | None:
    """A task id as stored (a lower-case UUID), or None for text that names no task (never queried)."""
    if len(text) > 45:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _marker(text: str) -> str:
    marker = task_id(text)
    if marker is None:
        raise InvalidRequest(reason="marker must be a task id (a UUID)")
    return marker


def parse_task_query(params: Mapping[str, str]) -> TaskQuery:
    """Glance's list parameters; other keys are ignored, as Glance ignores filters on no column."""
    sort_dir = params.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise InvalidRequest(reason="sort_dir must be asc or desc")
    status, task_type = params.get("status"), params.get("type")
    sort_key, marker, limit = params.get("sort_key"), params.get("marker"), params.get("limit")
    return TaskQuery(
        status=_one_of("status", status, TaskStatus) if status else None,
        type=_one_of("type", task_type, TaskType) if task_type else None,
        sort_key=_one_of("sort_key", sort_key, TaskSortKey) if sort_key else TaskSortKey.CREATED_AT,
        descending=sort_dir == "desc",
        marker=_marker(marker) if marker is not None else None,
        limit=_limit(limit) if limit is not None else DEFAULT_TASK_LIMIT,
    )
