"""The image lifecycle over HTTP: create from object storage, import, update, delete, download, upload.
Every case runs with the filesystem and the S3 blob store, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from scp_images.store.sql.tables import image_imports, images
from tests.api.helpers import file_digests, wait_status
from tests.conftest import qemu_virtual_size, run
from tests.support.stack import Key, Stack


def create(stack: Stack, key: Key, url: str | None, **fields: Any) -> Any:
    body = {
        "name": "disk image",
        "os_distro": "ubuntu",
        **({"url": url} if url is not None else {}),
        **fields,
    }
    return stack.request("POST", "/v1/images", key, json=body)


def counts(stack: Stack) -> tuple[int, int, int]:
    with stack.components.db.transaction() as conn:
        rows = conn.execute(select(func.count()).select_from(images)).scalar_one()
        jobs = conn.execute(select(func.count()).select_from(image_imports)).scalar_one()
    return int(rows), int(jobs), len(list(stack.components.blobs.keys()))


@pytest.fixture
def owner(lifecycle_stack: Stack, source_bucket: str) -> Key:
    key = lifecycle_stack.new_account("owner")
    lifecycle_stack.grant(key, source_bucket)
    return key


def test_create_from_object_storage_ends_active_with_exact_figures(
    lifecycle_stack: Stack, owner: Key, make_qcow2: Any, put_object: Any, source_bucket: str
) -> None:
    stack = lifecycle_stack
    path = make_qcow2("src.qcow2", "200M")
    put_object(path, "images/src.qcow2")
    url = f"https://object-store.kr-west1.e.samsungsdscloud.com/{owner.account_id}/{source_bucket}/images/src.qcow2"
    response = create(
        stack, owner, url, min_disk=10, visibility="shared", tags=[{"key": "team", "value": "a"}]
    )
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["status"] == "queued" and created["url"] == url and created["min_disk"] == 10
    done = wait_status(stack, owner, created["id"], "active", "killed")
    md5, sha512, size = file_digests(path)
    assert done["status"] == "active"
    assert (done["checksum"], done["os_hash_value"], done["size"]) == (md5, sha512, size)
    assert done["virtual_size"] == qemu_virtual_size(path)
    status = stack.request("GET", f"/v1/images/{created['id']}/import", owner).json()
    assert status["status"] == "succeeded" and status["bytes_read"] == size and status["bytes_total"] == size
    assert status["reason"] is None and status["finished_at"].endswith("Z")


def test_unsafe_object_ends_killed_with_reason_and_no_blob(
    lifecycle_stack: Stack, owner: Key, make_qcow2: Any, put_object: Any, tmp_path: Path
) -> None:
    stack = lifecycle_stack
    base = make_qcow2("base.qcow2", "16M")
    child = tmp_path / "child.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(child))
    url = put_object(child, "child.qcow2")
    created = create(stack, owner, url).json()
    done = wait_status(stack, owner, created["id"], "active", "killed")
    assert done["status"] == "killed"
    status = stack.request("GET", f"/v1/images/{created['id']}/import", owner).json()
    assert status["status"] == "failed" and status["reason"].startswith("backing_file")
    assert counts(stack)[2] == 0


def test_missing_object_ends_killed(lifecycle_stack: Stack, owner: Key, source_bucket: str) -> None:
    created = create(lifecycle_stack, owner, f"s3://{source_bucket}/nothing.qcow2").json()
    done = wait_status(lifecycle_stack, owner, created["id"], "active", "killed")
    assert done["status"] == "killed"
    reason = lifecycle_stack.request("GET", f"/v1/images/{created['id']}/import", owner).json()["reason"]
    assert "does not exist" in reason


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"url": "http://example.com/a.qcow2"}, "url"),
        ({"url": "file:///etc/passwd"}, "url"),
        ({"url": "https://10.0.0.1/a.qcow2"}, "url"),
        ({"url": "https://mirror.example.com/a.qcow2"}, "url"),
        ({"url": "s3://b/k.qcow2", "name": "bad/name"}, "name"),
        ({"url": "s3://b/k.qcow2", "name": ""}, "name"),
        ({"url": "s3://b/k.qcow2", "name": "x" * 256}, "name"),
        ({"url": "s3://b/k.qcow2", "os_distro": "debian"}, "os_distro"),
        ({"url": "s3://b/k.qcow2", "disk_format": "raw"}, "disk_format"),
        ({"url": "s3://b/k.qcow2", "container_format": "ovf"}, "container_format"),
        ({"url": "s3://b/k.qcow2", "min_ram": 2097152}, "min_ram"),
        ({"url": "s3://b/k.qcow2", "min_disk": -1}, "min_disk"),
        ({"url": "s3://b/k.qcow2", "min_disk": "10"}, "min_disk"),
        ({"url": "s3://b/k.qcow2", "visibility": "public"}, "visibility"),
        ({"url": "s3://b/k.qcow2", "protected": "yes"}, "protected"),
        ({"url": "s3://b/k.qcow2", "tags": [{"value": "no key"}]}, "tags"),
        ({}, "url"),
    ],
)
def test_bad_create_requests_are_400_and_leave_nothing(
    lifecycle_stack: Stack, owner: Key, body: dict[str, Any], word: str
) -> None:
    full = {"name": "ok", "os_distro": "ubuntu", **body}
    response = lifecycle_stack.request("POST", "/v1/images", owner, json=full)
    assert response.status_code == 400, response.text
    assert word.lower() in response.json()["errors"][0]["detail"].lower()
    assert counts(lifecycle_stack) == (0, 0, 0)


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [(b"{not json", "application/json"), (b"[]", "application/json"), (b'{"name": "x"}', "text/plain")],
)
def test_malformed_bodies_are_400(lifecycle_stack: Stack, owner: Key, raw: bytes, content_type: str) -> None:
    response = lifecycle_stack.request(
        "POST", "/v1/images", owner, content=raw, headers={"Content-Type": content_type}
    )
    assert response.status_code == 400


def test_oversized_body_is_413(lifecycle_stack: Stack, owner: Key) -> None:
    response = lifecycle_stack.request(
        "POST",
        "/v1/images",
        owner,
        content=b"{" + b" " * (2 << 20) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413


def _active_image(
    stack: Stack, key: Key, make_qcow2: Any, put_object: Any, name: str = "a.qcow2"
) -> tuple[str, Path]:
    path = make_qcow2(name, "32M")
    created = create(stack, key, put_object(path, name)).json()
    assert wait_status(stack, key, created["id"], "active", "killed")["status"] == "active"
    return created["id"], path


def test_import_only_from_queued_or_killed(
    lifecycle_stack: Stack, owner: Key, make_qcow2: Any, put_object: Any, source_bucket: str
) -> None:
    stack = lifecycle_stack
    image_id, _ = _active_image(stack, owner, make_qcow2, put_object)
    url = {"url": f"s3://{source_bucket}/a.qcow2"}
    assert stack.request("POST", f"/v1/images/{image_id}/import", owner, json=url).status_code == 409
    broken = create(stack, owner, f"s3://{source_bucket}/missing.qcow2").json()["id"]
    assert wait_status(stack, owner, broken, "killed")["status"] == "killed"
    response = stack.request("POST", f"/v1/images/{broken}/import", owner, json=url)
    assert response.status_code == 202 and response.content == b""
    assert wait_status(stack, owner, broken, "active")["status"] == "active"
    bad = stack.request("POST", f"/v1/images/{broken}/import", owner, json={"url": "s3://b/not-qcow2.img"})
    assert bad.status_code == 400
    other = stack.new_account("other")
    assert stack.request("POST", f"/v1/images/{broken}/import", other, json=url).status_code == 403
    stack.grant(other, source_bucket)
    assert stack.request("POST", f"/v1/images/{broken}/import", other, json=url).status_code == 404


def test_update_rules(lifecycle_stack: Stack, owner: Key, make_qcow2: Any, put_object: Any) -> None:
    stack = lifecycle_stack
    image_id, _ = _active_image(stack, owner, make_qcow2, put_object)
    path = f"/v1/images/{image_id}"
    updated = stack.request(
        "PUT", path, owner, json={"min_disk": 20, "protected": True, "visibility": "shared"}
    )
    assert updated.status_code == 200, updated.text
    assert (updated.json()["min_disk"], updated.json()["protected"], updated.json()["visibility"]) == (
        20,
        True,
        "shared",
    )
    same = stack.request("PUT", path, owner, json={"min_disk": None, "min_ram": None})
    assert same.status_code == 200 and same.json()["min_disk"] == 20
    assert stack.request("PUT", path, owner, json={"name": "renamed"}).status_code == 400
    assert stack.request("PUT", path, owner, json={"visibility": "public"}).status_code == 400
    assert stack.request("PUT", path, owner, json={"min_ram": -1}).status_code == 400
    v10 = stack.request("PUT", path, owner, json={"min_ram": 512}, version="1.0").json()
    assert "scp_gpu_driver" not in v10 and v10["min_ram"] == 512


def test_delete_rules_and_afterwards_404_everywhere(
    lifecycle_stack: Stack, owner: Key, make_qcow2: Any, put_object: Any
) -> None:
    stack = lifecycle_stack
    image_id, _ = _active_image(stack, owner, make_qcow2, put_object)
    path = f"/v1/images/{image_id}"
    stack.request("PUT", path, owner, json={"protected": True})
    assert stack.request("DELETE", path, owner).status_code == 409
    stack.request("PUT", path, owner, json={"protected": False})
    other = stack.new_account("other")
    assert stack.request("DELETE", path, other).status_code == 404
    response = stack.request("DELETE", path, owner)
    assert response.status_code == 204 and response.content == b""
    assert stack.request("GET", path, owner).status_code == 404
    assert stack.request("GET", f"/v2/images/{image_id}/file", owner).status_code == 404
    assert stack.request("DELETE", path, owner).status_code == 404
    listed = stack.request("GET", "/v1/images", owner).json()["images"]
    assert image_id not in [i["id"] for i in listed]
    assert counts(stack) == (0, 0, 0)


def test_download_full_and_ranges(
    lifecycle_stack: Stack, owner: Key, make_qcow2: Any, put_object: Any
) -> None:
    stack = lifecycle_stack
    image_id, path = _active_image(stack, owner, make_qcow2, put_object)
    data = path.read_bytes()
    response = stack.request("GET", f"/v2/images/{image_id}/file", owner)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Length"] == str(len(data))
    md5 = hashlib.md5(data).digest()
    assert response.headers["Content-MD5"] == base64.b64encode(md5).decode()
    assert response.headers["ETag"] == f'"{md5.hex()}"'
    part = stack.request("GET", f"/v2/images/{image_id}/file", owner, headers={"Range": "bytes=100-1123"})
    assert part.status_code == 206 and part.content == data[100:1124]
    assert part.headers["Content-Range"] == f"bytes 100-1123/{len(data)}"
    tail = stack.request("GET", f"/v2/images/{image_id}/file", owner, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    bad = stack.request("GET", f"/v2/images/{image_id}/file", owner, headers={"Range": f"bytes={len(data)}-"})
    assert bad.status_code == 416
    stranger = stack.new_account("stranger")
    assert stack.request("GET", f"/v2/images/{image_id}/file", stranger).status_code == 404


def test_download_of_a_queued_image_is_409(lifecycle_stack: Stack, owner: Key) -> None:
    created = lifecycle_stack.request(
        "POST", "/v1/images", owner, params={"source": "upload"}, json={"name": "later", "os_distro": "rocky"}
    ).json()
    assert lifecycle_stack.request("GET", f"/v2/images/{created['id']}/file", owner).status_code == 409


def test_direct_upload_through_the_same_pipeline(
    lifecycle_stack: Stack, owner: Key, make_qcow2: Any, tmp_path: Path
) -> None:
    stack = lifecycle_stack
    path = make_qcow2("up.qcow2", "48M")
    created = stack.request(
        "POST",
        "/v1/images",
        owner,
        params={"source": "upload"},
        json={"name": "uploaded", "os_distro": "rocky"},
    )
    assert created.status_code == 200, created.text
    image_id = created.json()["id"]
    assert created.json()["url"] is None
    with path.open("rb") as handle:
        response = stack.request(
            "PUT",
            f"/v2/images/{image_id}/file",
            owner,
            content=handle,
            headers={"Content-Type": "application/octet-stream"},
        )
    assert response.status_code == 204, response.text
    shown = stack.request("GET", f"/v1/images/{image_id}", owner).json()
    md5, sha512, size = file_digests(path)
    assert (shown["status"], shown["checksum"], shown["os_hash_value"], shown["size"]) == (
        "active",
        md5,
        sha512,
        size,
    )
    again = stack.request("PUT", f"/v2/images/{image_id}/file", owner, content=b"x")
    assert again.status_code == 409
    # a refused upload: 400 with the reason, the image killed, no blob added
    bad = stack.request(
        "POST", "/v1/images", owner, params={"source": "upload"}, json={"name": "bad", "os_distro": "rocky"}
    ).json()
    before = counts(stack)[2]
    raw = tmp_path / "raw.bin"
    raw.write_bytes(b"\0" * (3 << 20))
    refused = stack.request("PUT", f"/v2/images/{bad['id']}/file", owner, content=raw.read_bytes())
    assert refused.status_code == 400
    assert "not_qcow2" in refused.json()["errors"][0]["detail"]
    assert stack.request("GET", f"/v1/images/{bad['id']}", owner).json()["status"] == "killed"
    assert counts(stack)[2] == before
    url_given = stack.request(
        "POST",
        "/v1/images",
        owner,
        params={"source": "upload"},
        json={"name": "x", "os_distro": "rocky", "url": "s3://a/b.qcow2"},
    )
    assert url_given.status_code == 400
