"""Glance's tasks (``GET /v2/images/{id}/tasks``, v2.12, and the ``/v2/tasks`` API): our import jobs as
Glance shows its tasks. Both answers are shaped here, each as Glance shapes it (the image's tasks as its
database rows, the tasks API through its schema)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import InvalidRequest
from scp_images.domain.principal import Action
from scp_images.domain.tasks import Task, legacy_import, parse_task_query, require_tasks_api
from scp_images.http.openstack.audit import audited
from scp_images.http.openstack.auth import authorize
from scp_images.http.openstack.errors import method_not_allowed
from scp_images.http.openstack.images import image_id, json_body, new_image_spec
from scp_images.http.request_body import RawBody, raw_body
from scp_images.http.responses import json_response
from scp_images.http.schemas import rfc3339

router = APIRouter()


def _row_time(value: Any) -> str | None:
    """The image's tasks are Glance's database rows as oslo serialises them: microseconds, no zone."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value is not None else None


def image_task_v2(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "type": task.type.value,
        "status": task.status.value,
        "owner": task.owner,
        "expires_at": _row_time(task.expires_at),
        "created_at": _row_time(task.created_at),
        "updated_at": _row_time(task.updated_at),
        "deleted_at": None,
        "deleted": False,
        "image_id": task.image_id,
        "request_id": task.request_id,
        "user_id": task.user_id,
        "input": task.input,
        "result": task.result,
        "message": task.message,
    }


def _stub(task: Task) -> dict[str, Any]:
    """A task in a list (Glance's partial schema: no input, result or message)."""
    body: dict[str, Any] = {
        "id": task.id,
        "type": task.type.value,
        "status": task.status.value,
        "owner": task.owner,
        "created_at": rfc3339(task.created_at),
        "updated_at": rfc3339(task.updated_at),
        "self": f"/v2/tasks/{task.id}",
        "schema": "/v2/schemas/task",
    }
    if task.expires_at is not None:
        body["expires_at"] = rfc3339(task.expires_at)
    return body


def task_v2(task: Task) -> dict[str, Any]:
    """A task as ``GET /v2/tasks/{id}`` shows it; absent fields are left out, as Glance does."""
    body = _stub(task)
    body.update(input=task.input, result=task.result, message=task.message, image_id=task.image_id)
    if task.request_id:
        body["request_id"] = task.request_id
    if task.user_id:
        body["user_id"] = task.user_id
    return body


@router.get("/v2/images/{image}/tasks")
def image_tasks(request: Request, image: str) -> Response:
    call = authorize(request, Action.SHOW_IMAGE)
    tasks = call.svc.tasks.image_tasks(call.principal, image_id(image))
    return json_response({"tasks": [image_task_v2(t) for t in tasks]})


@router.post("/v2/tasks")
def create_task(request: Request, raw: RawBody = Depends(raw_body)) -> Response:
    with audited(request, AuditAction.IMAGE_CREATE, 201) as audit:
        call = authorize(request, Action.CREATE_IMAGE)
        call.principal.require(Action.IMPORT_IMAGE)  # it makes an image and imports into it
        require_tasks_api(call.principal)  # Glance checks access before it reads the body
        task = legacy_import(json_body(raw, call.svc.limits.max_body_bytes))
        spec = new_image_spec(task.image_properties, call.principal.account_id)
        made = call.svc.tasks.create_import(call.principal, task, spec, audit.context(call))
    headers = {"Location": f"/v2/tasks/{made.id}"}
    return json_response(task_v2(made), 201, headers)


def _page_links(request: Request, tasks: list[Task], limit: int) -> dict[str, str]:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    links = {"first": "/v2/tasks" + (f"?{urlencode(kept)}" if kept else "")}
    if tasks and len(tasks) == limit:
        links["next"] = "/v2/tasks?" + urlencode([*kept, ("marker", tasks[-1].id)])
    return links


@router.get("/v2/tasks")
def list_tasks(request: Request) -> Response:
    call = authorize(request, Action.LIST_IMAGES)
    require_tasks_api(call.principal)
    params = request.query_params
    if any(len(params.getlist(name)) > 1 for name in params):
        raise InvalidRequest(reason="give each query parameter once")
    query = parse_task_query(dict(params))
    tasks = call.svc.tasks.list(call.principal, query)
    body: dict[str, Any] = {"tasks": [_stub(t) for t in tasks], "schema": "/v2/schemas/tasks"}
    body.update(_page_links(request, tasks, query.limit))
    return json_response(body)


@router.get("/v2/tasks/{task_id}")
def show_task(request: Request, task_id: str) -> Response:
    call = authorize(request, Action.SHOW_IMAGE)
    return json_response(task_v2(call.svc.tasks.show(call.principal, task_id)))


@router.delete("/v2/tasks/{task_id}")
def delete_task(request: Request, task_id: str) -> Response:
    """Glance: 403 without tasks access, then 405 (tasks expire by themselves)."""
    call = authorize(request, None)
    require_tasks_api(call.principal)
    return method_not_allowed(request, "GET")
