"""Import jobs as the services see them: one per image (its latest import, upload or operator import).

A job is owned by the attempt that claimed it, ``(claimed_by, attempts)``: a ``JobFence``. Every write a
writer makes after its claim is conditional on its fence (the store checks it), so an attempt that was
superseded while it stalled can change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from scp_images.domain.disk_formats import OriginalDisk


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# Jobs that count against image_count_uploading, and whose reserved bytes count in image_size_total.
IN_FLIGHT = (JobStatus.PENDING.value, JobStatus.RUNNING.value)


class ImportPhase(StrEnum):
    """Where a job is (shown by the import status): an upload or import receives the bytes while
    inspecting them; a disk in another format is then converted into qcow2, hashed and stored."""

    RECEIVING = "receiving"
    INSPECTING = "inspecting"
    CONVERTING = "converting"
    HASHING = "hashing"
    STORING = "storing"


class JobSource(StrEnum):
    URL = "url"  # an import from a URL, run by a runner; resumable elsewhere
    UPLOAD = "upload"  # PUT /v2/images/{id}/file; lives and dies with its request
    LOCAL = "local"  # the operator's `admin image import` of a local file


@dataclass(frozen=True, slots=True)
class JobFence:
    """The claim a writer holds: only the attempt that still owns the job may act on it."""

    image_id: str
    worker: str
    attempt: int


@dataclass(frozen=True, slots=True)
class JobRequest:
    """Who asked for a job, and how: the OpenStack edge shows a job with a request as a Glance task
    (``domain/tasks.py``). ``task_type`` is a ``TaskType`` value; ``task_input`` the task's input as
    shown (built by ``domain/tasks.py``, URLs redacted)."""

    task_id: str
    task_type: str
    task_input: dict[str, Any]
    request_id: str | None
    requested_by: str | None


@dataclass(frozen=True, slots=True)
class StagedDisk:
    """What the inspection of a staged original found (kept for the attempt that converts it)."""

    virtual_size: int
    member_offset: int | None = None
    member_size: int | None = None


@dataclass(frozen=True, slots=True)
class ImportJob:
    image_id: str
    url: str | None
    source: JobSource
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
    staging_key: str | None = None
    request: JobRequest | None = None  # None: not (yet) a task
    # Conversion (issue 21): the phase and its percentage (converting), the input format the caller
    # declared (None: detect), the received original once staged, and the blob key of that staged
    # original: unlike ``staging_key`` (one attempt's output) it survives a takeover.
    phase: ImportPhase | None = None
    percent: int | None = None
    input_format: str | None = None
    original: OriginalDisk | None = None
    original_key: str | None = None
    # What the inspection of the original found, so that a later attempt (a takeover) converts it without
    # reading it twice: its virtual size and, for an OVA, where its one disk lies inside the tar.
    original_virtual_size: int | None = None
    member_offset: int | None = None
    member_size: int | None = None

    @property
    def fence(self) -> JobFence:
        assert self.claimed_by is not None, "only a claimed job has a fence"
        return JobFence(self.image_id, self.claimed_by, self.attempts)
