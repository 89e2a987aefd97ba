"""Glance's tasks over our import jobs (``domain/tasks.py``): an image's tasks for whoever can see the
image, and the admin-only tasks API (list, show, and the legacy ``import`` that makes an image and
imports it from a URL through ``ImageService.create``, under the same source rules as web-download)."""

from __future__ import annotations

from dataclasses import replace

from scp_images.domain.errors import InvalidRequest, TaskNotFound
from scp_images.domain.image import ImageSpec
from scp_images.domain.principal import Principal
from scp_images.domain.tasks import (
    LegacyImport,
    Task,
    TaskQuery,
    may_see_task,
    require_tasks_api,
    shown_since,
    task_of,
)
from scp_images.domain.tasks import task_id as stored_task_id
from scp_images.services.audit import AuditContext
from scp_images.services.clock import Clock, system_clock
from scp_images.services.images import ImageService
from scp_images.store.sql import imports as job_store
from scp_images.store.sql import tasks as task_store
from scp_images.store.sql.database import Database
from scp_images.store.sql.tasks import OwnedJob


class TaskService:
    def __init__(self, db: Database, images: ImageService, clock: Clock = system_clock) -> None:
        self._db = db
        self._images = images
        self._clock = clock

    def _visible(self, principal: Principal, owned: list[OwnedJob]) -> list[Task]:
        tasks = (task_of(job, owner) for job, owner in owned if may_see_task(principal, owner))
        return [task for task in tasks if task is not None]

    def image_tasks(self, principal: Principal, image_id: str) -> list[Task]:
        """The image's tasks: 404 as for the image when the caller cannot see it; only the caller's own
        account's tasks (all, for an admin), as Glance."""
        image = self._images.show(principal, image_id)
        with self._db.read() as conn:
            owned = task_store.image_tasks(conn, image.id, shown_since(self._clock()))
        return self._visible(principal, owned)

    def show(self, principal: Principal, task_id: str) -> Task:
        require_tasks_api(principal)
        wanted = stored_task_id(task_id)
        with self._db.read() as conn:
            owned = task_store.get_task(conn, wanted, shown_since(self._clock())) if wanted else None
        tasks = self._visible(principal, [owned] if owned else [])
        if not tasks:
            raise TaskNotFound(task_id=task_id[:80])
        return tasks[0]

    def list(self, principal: Principal, query: TaskQuery) -> list[Task]:
        require_tasks_api(principal)
        with self._db.read() as conn:
            owned = task_store.list_tasks(conn, query, shown_since(self._clock()))
        if owned is None:
            raise InvalidRequest(reason=f"marker {query.marker} is not a task you can list")
        return self._visible(principal, owned)

    def create_import(
        self, principal: Principal, task: LegacyImport, spec: ImageSpec, context: AuditContext | None = None
    ) -> Task:
        """A new image of ``spec`` (the task's image_properties) imported from ``task.import_from``:
        the image and its job in one transaction, the URL checked first as web-download's is."""
        require_tasks_api(principal)
        image = self._images.create(principal, replace(spec, url=task.import_from), context, task)
        with self._db.read() as conn:
            job = job_store.get_job(conn, image.id)
        made = task_of(job, image.owner) if job is not None else None
        assert made is not None, "the job was written with the image"
        return made
