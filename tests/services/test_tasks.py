"""The tasks use cases in-process, with an admin principal (``Principal.role``): the legacy import task
makes an image and its URL job under web-download's source rules, the list's filters, order and pages,
who may use the tasks API, and expiry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from scp_images.domain.errors import AdminRequired, ImportSourceRejected, InvalidRequest, TaskNotFound
from scp_images.domain.image import ImageSpec, ImageStatus
from scp_images.domain.jobs import JobStatus
from scp_images.domain.listing import ListQuery
from scp_images.domain.principal import Principal, Role
from scp_images.domain.tasks import TaskQuery, TaskSortKey, TaskStatus, TaskType, legacy_import
from scp_images.services.clock import system_clock
from scp_images.services.tasks import TaskService
from tests.services.conftest import DISK, create
from tests.support.services import Services

MIRROR = "https://mirror.test/disks/ubuntu.qcow2"


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return make_services(import_allowed_hosts=["mirror.test"])


@pytest.fixture
def admin(services: Services) -> Principal:
    return replace(services.account("ops"), role=Role.ADMIN)


def body(url: str = MIRROR, **properties: Any) -> dict[str, Any]:
    given = {"import_from": url, "import_from_format": "qcow2", "image_properties": properties}
    return {"type": "import", "input": given}


def import_task(services: Services, caller: Principal, url: str = MIRROR, **properties: Any) -> Any:
    task = legacy_import(body(url, **properties))
    spec = ImageSpec(name=properties.get("name", "t"), disk_format="qcow2", name_optional=True)
    return services.parts.tasks.create_import(caller, task, spec)


def test_an_import_task_makes_an_image_and_its_url_job(services: Services, admin: Principal) -> None:
    task = import_task(services, admin, f"{MIRROR}?X-Amz-Signature=secret", name="from-task")
    assert (task.type, task.status, task.owner, task.result) == (
        TaskType.IMPORT,
        TaskStatus.PENDING,
        admin.account_id,
        None,
    )
    assert task.input["import_from"] == f"{MIRROR}?X-Amz-Signature=REDACTED"
    assert task.input["image_properties"] == {"name": "from-task", "disk_format": "qcow2"}
    image = services.parts.images.show(admin, task.image_id)
    assert (image.name, image.status, image.disk_format) == ("from-task", ImageStatus.QUEUED, "qcow2")
    job = services.parts.images.import_status(admin, task.image_id)
    assert (job.status, job.url) == (JobStatus.PENDING, f"{MIRROR}?X-Amz-Signature=secret")  # whole, here
    assert services.parts.tasks.show(admin, task.id) == task
    assert services.parts.tasks.image_tasks(admin, task.image_id) == [task]


@pytest.mark.parametrize(
    "url",
    [
        "https://elsewhere.test/disk.qcow2",  # not allowlisted
        "http://169.254.169.254/latest/meta-data",
        "https://127.0.0.1/disk.qcow2",
        "file:///etc/passwd",
        "ftp://mirror.test/disk.qcow2",
        "http://mirror.test/disk.qcow2",  # plain http: only with the test switch
    ],
)
def test_refused_sources_are_refused_as_web_download_refuses_them_and_leave_no_image(
    services: Services, admin: Principal, url: str
) -> None:
    with pytest.raises(ImportSourceRejected):
        import_task(services, admin, url)
    with pytest.raises(ImportSourceRejected):  # the same answer as web-download's, from the same check
        services.parts.images.start_import(admin, create(services, admin).id, url)
    names = [i.name for i in services.parts.images.list_visible(admin, ListQuery())]
    assert names == ["disk"]  # the task's image was never written


def test_the_tasks_api_is_for_admins_only(services: Services, owner: Principal) -> None:
    member = owner
    with pytest.raises(AdminRequired):
        import_task(services, member)
    with pytest.raises(AdminRequired):
        services.parts.tasks.list(member, TaskQuery())
    with pytest.raises(AdminRequired):
        services.parts.tasks.show(member, "0b5e8e3a-9d3c-4f7a-8a1e-2c4d6f8a0b1c")
    assert services.parts.images.list_visible(member, ListQuery()) == []


def test_an_admin_lists_every_accounts_tasks_filtered_sorted_and_paged(
    services: Services, admin: Principal, owner: Principal
) -> None:
    made = [import_task(services, admin, name=f"t{i}") for i in range(3)]
    uploaded = create(services, owner, disk_format="raw")
    services.upload(owner, uploaded.id, [DISK])  # an upload is an api_image_import task of owner's
    tasks = services.parts.tasks
    everything = tasks.list(admin, TaskQuery())
    assert len(everything) == 4 and everything[0].image_id == uploaded.id  # newest first
    assert {t.id for t in tasks.list(admin, TaskQuery(type=TaskType.IMPORT))} == {t.id for t in made}
    assert [t.image_id for t in tasks.list(admin, TaskQuery(status=TaskStatus.SUCCESS))] == [uploaded.id]
    for key in TaskSortKey:
        for descending in (True, False):
            whole = tasks.list(admin, TaskQuery(sort_key=key, descending=descending))
            paged, marker = [], None
            while page := tasks.list(
                admin, TaskQuery(sort_key=key, descending=descending, marker=marker, limit=1)
            ):
                paged += page
                marker = page[-1].id
            assert paged == whole and len(whole) == 4
    by_id = tasks.list(admin, TaskQuery(sort_key=TaskSortKey.ID, descending=False))
    assert [t.id for t in by_id] == sorted(t.id for t in by_id)
    with pytest.raises(InvalidRequest):
        tasks.list(admin, TaskQuery(marker="0b5e8e3a-9d3c-4f7a-8a1e-2c4d6f8a0b1c"))
    # The owner sees its own upload's task on its image, and the admin shows it by id.
    assert [t.id for t in tasks.image_tasks(owner, uploaded.id)] == [everything[0].id]
    assert tasks.show(admin, everything[0].id).owner == owner.account_id


def test_a_finished_task_expires_after_48_hours(services: Services, owner: Principal) -> None:
    image = create(services, owner, disk_format="raw")
    services.upload(owner, image.id, [DISK])
    (task,) = services.parts.tasks.image_tasks(owner, image.id)
    assert task.expires_at is not None and task.expires_at - task.updated_at == timedelta(hours=48)
    later = TaskService(
        services.parts.db, services.parts.images, lambda: system_clock() + timedelta(hours=48, minutes=1)
    )
    assert later.image_tasks(owner, image.id) == []
    with pytest.raises(TaskNotFound):
        later.show(replace(owner, role=Role.ADMIN), task.id)
    # The job itself is still the image's latest import (the SCP API's import-status shows it).
    assert services.parts.images.import_status(owner, image.id).status is JobStatus.SUCCEEDED
