"""Glance's tasks over our import jobs, from the outside: ``GET /v2/images/{id}/tasks`` after a
glance-direct import as Tempest reads it, after an upload and a web-download, through raw HTTP,
glanceclient and openstacksdk; who sees which tasks; the admin-only ``/v2/tasks`` refusing members."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from scp_images.app import source_config
from scp_images.config import Settings
from scp_images.domain.principal import Role
from scp_images.imports.sources import SourceResolver
from tests.imports.helpers import start_image_server
from tests.imports.tls import make_ca
from tests.openstack.conftest import connect, glance, token
from tests.support.stack import Key, Stack, start_stack
from tests.support.tools import wait_until

MIRROR = "mirror.test"


class V2:
    """Raw HTTP on the image edge with one key's token, as Tempest's clients send it."""

    def __init__(self, stack: Stack, key: Key) -> None:
        self.base = f"{stack.base_url}/image/v2"
        self.http = stack.http
        self.headers = {"X-Auth-Token": token(stack, key)}

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.base}{path}", headers=headers, **kwargs)

    def create(self, **fields: Any) -> str:
        body = {"name": "t", "disk_format": "qcow2", "container_format": "bare", **fields}
        response = self.call("POST", "/images", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def tasks(self, image_id: str) -> list[dict[str, Any]]:
        response = self.call("GET", f"/images/{image_id}/tasks")
        assert response.status_code == 200, response.text
        return list(response.json()["tasks"])


OCTET = {"Content-Type": "application/octet-stream"}


def test_a_glance_direct_import_is_one_task_named_by_the_import_call(
    stack: Stack, qcow2_bytes: bytes
) -> None:
    key = stack.new_account("alpha")
    v2 = V2(stack, key)
    image_id = v2.create()
    assert v2.tasks(image_id) == []  # a queued image has no task
    assert v2.call("PUT", f"/images/{image_id}/stage", content=qcow2_bytes, headers=OCTET).status_code == 204
    assert v2.tasks(image_id) == []  # staging alone is not a task (Glance records one at the import call)
    answer = v2.call("POST", f"/images/{image_id}/import", json={"method": {"name": "glance-direct"}})
    assert answer.status_code == 202, answer.text
    tasks = v2.tasks(image_id)
    assert len(tasks) == 1
    task = tasks[0]
    assert task["request_id"] == answer.headers["x-openstack-request-id"]
    assert task["input"]["import_req"]["method"]["name"] == "glance-direct"
    assert (task["type"], task["status"], task["image_id"], task["owner"]) == (
        "api_image_import",
        "success",
        image_id,
        key.account_id,
    )
    assert (task["result"], task["message"], task["deleted"]) == ({"image_id": image_id}, "", False)
    assert task["user_id"] == key.access_key  # the token's user.id
    assert task["expires_at"] > task["created_at"]


def test_an_upload_is_a_task_too(stack: Stack, qcow2_bytes: bytes) -> None:
    v2 = V2(stack, stack.new_account("alpha"))
    image_id = v2.create()
    answer = v2.call("PUT", f"/images/{image_id}/file", content=qcow2_bytes, headers=OCTET)
    assert answer.status_code == 204, answer.text
    (task,) = v2.tasks(image_id)
    assert task["input"]["import_req"]["method"]["name"] == "upload"
    assert (task["status"], task["request_id"]) == ("success", answer.headers["x-openstack-request-id"])


def test_a_refused_upload_is_a_failed_task_with_its_reason(stack: Stack) -> None:
    v2 = V2(stack, stack.new_account("alpha"))
    image_id = v2.create()
    answer = v2.call("PUT", f"/images/{image_id}/file", content=b"not a qcow2 at all" * 100, headers=OCTET)
    assert answer.status_code == 400
    (task,) = v2.tasks(image_id)
    assert task["status"] == "failure"
    assert task["message"] and task["result"] is None


def test_only_the_images_viewers_see_its_tasks_and_only_their_own(stack: Stack, qcow2_bytes: bytes) -> None:
    owner, member, stranger = (stack.new_account(n) for n in ("owner", "member", "stranger"))
    mine = V2(stack, owner)
    image_id = mine.create(visibility="shared")
    assert mine.call("PUT", f"/images/{image_id}/file", content=qcow2_bytes, headers=OCTET).status_code == 204
    added = mine.call("POST", f"/images/{image_id}/members", json={"member": member.account_id})
    assert added.status_code == 200, added.text
    assert len(mine.tasks(image_id)) == 1
    # A member sees the image but not the owner's tasks (Glance lists a project's own tasks only).
    assert V2(stack, member).tasks(image_id) == []
    # Anyone else: 404, as for the image itself; a non-UUID is no image either.
    theirs = V2(stack, stranger)
    for path in (f"/images/{image_id}/tasks", "/images/not-a-uuid/tasks"):
        refused = theirs.call("GET", path)
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["code"] == 404


def test_glanceclient_and_openstacksdk_read_an_images_tasks(stack: Stack, qcow2_bytes: bytes) -> None:
    key = stack.new_account("alpha")
    client = glance(stack, key)
    image = client.images.create(name="gc", disk_format="qcow2", container_format="bare")
    client.images.stage(image["id"], io.BytesIO(qcow2_bytes))
    client.images.image_import(image["id"], method="glance-direct")
    body = client.images.get_associated_image_tasks(image["id"])  # asks for v2.12 first
    assert [t["status"] for t in body["tasks"]] == ["success"]
    conn = connect(stack, key)
    (task,) = list(conn.image.image_tasks(image["id"]))
    assert (task.id, task.type, task.status) == (body["tasks"][0]["id"], "api_image_import", "success")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/tasks"), ("GET", "/tasks/0b5e8e3a-9d3c-4f7a-8a1e-2c4d6f8a0b1c"), ("POST", "/tasks")],
)
def test_the_tasks_api_is_for_admins(stack: Stack, method: str, path: str) -> None:
    v2 = V2(stack, stack.new_account("alpha"))
    body = {"type": "import", "input": {"import_from": "https://example.com/d.qcow2"}}
    refused = v2.call(method, path, json=body if method == "POST" else None)
    assert refused.status_code == 403, refused.text
    assert "admin" in refused.json()["error"]["message"]
    assert V2(stack, stack.new_account("beta")).call("DELETE", path).status_code in (403, 405)


def test_the_task_schemas_are_served_as_glance_serves_them(stack: Stack) -> None:
    v2 = V2(stack, stack.new_account("alpha"))
    task = v2.call("GET", "/schemas/task").json()
    assert task["name"] == "task" and task["additionalProperties"] is False
    assert task["properties"]["status"]["enum"] == ["pending", "processing", "success", "failure"]
    assert {"input", "result", "message", "image_id", "request_id", "user_id"} <= set(task["properties"])
    tasks = v2.call("GET", "/schemas/tasks").json()
    item = tasks["properties"]["tasks"]["items"]
    assert tasks["name"] == "tasks" and not {"input", "result", "message"} & set(item["properties"])
    assert {"rel": "describedby", "href": "{schema}"} in tasks["links"]


@dataclass
class Mirrored:
    stack: Stack
    data: bytes
    uri: str  # the mirror's qcow2, allowlisted


@pytest.fixture
def mirrored(
    settings: Settings, make_qcow2: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Mirrored]:
    """A server whose allowlist names an https mirror with its own CA (the name pinned to loopback)."""
    data = make_qcow2("mirror.qcow2", "8M").read_bytes()
    (tmp_path / "tls").mkdir()
    ca = make_ca(tmp_path / "tls", MIRROR)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    server, httpd = start_image_server({"disk.qcow2": data}, tls=ca.server_context)
    try:
        configured = settings.model_copy(
            update={"import_allowed_hosts": [f"{MIRROR}:{server.port}"], "import_heartbeat_seconds": 0.2}
        )
        sources = SourceResolver(source_config(configured), resolve_host=lambda host: ["127.0.0.1"])
        stack = start_stack(configured, sources=sources)
        try:
            yield Mirrored(stack, data, server.url("/files/disk.qcow2", MIRROR))
        finally:
            stack.stop()
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_web_download_is_a_task_with_its_uri_redacted(mirrored: Mirrored) -> None:
    v2 = V2(mirrored.stack, mirrored.stack.new_account("alpha"))
    image_id = v2.create()
    body = {"method": {"name": "web-download", "uri": mirrored.uri + "?X-Amz-Signature=secret"}}
    answer = v2.call("POST", f"/images/{image_id}/import", json=body)
    assert answer.status_code == 202, answer.text
    (task,) = v2.tasks(image_id)
    assert task["status"] in ("pending", "processing", "success")
    assert task["request_id"] == answer.headers["x-openstack-request-id"]
    shown_uri = task["input"]["import_req"]["method"]["uri"]
    assert "secret" not in shown_uri and shown_uri.endswith("X-Amz-Signature=REDACTED")
    wait_until(lambda: v2.tasks(image_id)[0]["status"] == "success", what="the task", timeout=60)


def _admin(stack: Stack) -> Key:
    return stack.new_account("ops", role=Role.ADMIN, operator=True)


def import_body(uri: str, **properties: Any) -> dict[str, Any]:
    given = {"import_from": uri, "import_from_format": "qcow2", "image_properties": properties}
    return {"type": "import", "input": given}


def test_an_admin_imports_through_the_tasks_api(mirrored: Mirrored) -> None:
    stack = mirrored.stack
    admin = V2(stack, _admin(stack))
    answer = admin.call(
        "POST", "/tasks", json=import_body(mirrored.uri, name="legacy", container_format="bare")
    )
    assert answer.status_code == 201, answer.text
    task = answer.json()
    assert answer.headers["Location"] == f"/v2/tasks/{task['id']}"
    assert (task["type"], task["self"]) == ("import", f"/v2/tasks/{task['id']}")
    # A worker may take the job before the answer is built: the answer shows the job as it is then.
    assert task["status"] in ("pending", "processing", "success")
    assert task["input"]["image_properties"] == {
        "name": "legacy",
        "container_format": "bare",
        "disk_format": "qcow2",
    }

    def done() -> dict[str, Any]:
        return dict(admin.call("GET", f"/tasks/{task['id']}").json())

    wait_until(lambda: done()["status"] == "success", what="the import task", timeout=60)
    image_id = done()["result"]["image_id"]
    image = admin.call("GET", f"/images/{image_id}").json()
    assert (image["status"], image["name"], image["disk_format"]) == ("active", "legacy", "qcow2")
    assert admin.call("GET", f"/images/{image_id}/file").content == mirrored.data
    listed = admin.call("GET", "/tasks", params={"type": "import", "status": "success"}).json()
    assert [t["id"] for t in listed["tasks"]] == [task["id"]] and "input" not in listed["tasks"][0]
    assert listed["schema"] == "/v2/schemas/tasks" and listed["first"].startswith("/v2/tasks?")
    refused = admin.call("DELETE", f"/tasks/{task['id']}")
    assert (refused.status_code, refused.headers["Allow"]) == (405, "GET")
    assert admin.call("GET", "/tasks/0b5e8e3a-9d3c-4f7a-8a1e-2c4d6f8a0b1c").status_code == 404


@pytest.mark.parametrize(
    "uri",
    [
        "https://elsewhere.test/disk.qcow2",
        "http://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1/disk.qcow2",
        "file:///etc/passwd",
        "s3://other-bucket/disk.qcow2",
    ],
)
def test_a_refused_source_is_a_400_as_for_web_download_and_makes_no_image(
    mirrored: Mirrored, uri: str
) -> None:
    stack = mirrored.stack
    admin = V2(stack, _admin(stack))
    refused = admin.call("POST", "/tasks", json=import_body(uri))
    image_id = admin.create()
    as_web_download = admin.call(
        "POST", f"/images/{image_id}/import", json={"method": {"name": "web-download", "uri": uri}}
    )
    assert (refused.status_code, refused.json()["error"]["message"]) == (
        as_web_download.status_code,
        as_web_download.json()["error"]["message"],
    )
    assert refused.status_code in (400, 403), refused.text
    assert [i["id"] for i in admin.call("GET", "/images").json()["images"]] == [image_id]
    assert admin.call("GET", "/tasks").json()["tasks"] == []


def test_bad_task_bodies_and_list_parameters_are_400s(stack: Stack) -> None:
    admin = V2(stack, _admin(stack))
    for body in ({"type": "import"}, {"type": "copy", "input": {}}, [], "x"):
        refused = admin.call("POST", "/tasks", json=body)
        assert refused.status_code == 400, refused.text
    for params in ({"status": "running"}, {"sort_dir": "up"}, {"marker": "nope"}, {"limit": "-1"}):
        assert admin.call("GET", "/tasks", params=params).status_code == 400
    assert (
        admin.call("GET", "/tasks", params={"marker": "0b5e8e3a-9d3c-4f7a-8a1e-2c4d6f8a0b1c"}).status_code
        == 400
    )
    for path in ("/tasks/" + "x" * 5000, "/tasks/%00", "/images/" + "9" * 5000 + "/tasks"):
        assert admin.call("GET", path).status_code == 404, path
    repeated = [("status", "success"), ("status", "failure")]
    assert admin.call("GET", "/tasks", params=repeated).status_code == 400


def test_glanceclient_and_openstacksdk_use_the_tasks_api(mirrored: Mirrored) -> None:
    stack = mirrored.stack
    key = _admin(stack)
    client = glance(stack, key)
    created = client.tasks.create(type="import", input=import_body(mirrored.uri, name="gc")["input"])
    wait_until(lambda: client.tasks.get(created.id).status == "success", what="the task", timeout=60)
    shown = client.tasks.get(created.id)  # validated against /v2/schemas/task by warlock
    assert shown.result["image_id"] and shown.type == "import"
    assert [t.id for t in client.tasks.list(filters={"type": "import"})] == [created.id]
    conn = connect(stack, key)
    assert [t.id for t in conn.image.tasks()] == [created.id]
    assert conn.image.get_task(created.id).status == "success"
