"""python-glanceclient, unchanged: its library on a keystoneauth application-credential session (schemas,
warlock validation, chunked uploads, JSON patches with ``replace``), and the ``glance`` CLI with the
password method (access key as user name, secret key as password, account as project)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.openstack.conftest import glance, md5
from tests.support.stack import Stack
from tests.support.tools import missing


def test_glanceclient_create_upload_patch_tags_download(
    stack: Stack, qcow2_bytes: bytes, tmp_path: Path
) -> None:
    key = stack.new_account("alpha")
    client = glance(stack, key)
    image = client.images.create(
        name="gc-image", disk_format="qcow2", container_format="bare", os_distro="ubuntu"
    )
    assert image["status"] == "queued"
    path = tmp_path / "disk.qcow2"
    path.write_bytes(qcow2_bytes)
    with path.open("rb") as handle:
        client.images.upload(image["id"], handle)  # chunked, with x-openstack-image-size
    shown = client.images.get(image["id"])
    assert shown["status"] == "active"
    assert shown["checksum"] == md5(qcow2_bytes)
    # glanceclient GETs, validates against the schema, PATCHes with replace/add, and GETs again.
    updated = client.images.update(image["id"], min_disk=2, x_owner_team="infra")
    assert updated["min_disk"] == 2
    assert updated["x_owner_team"] == "infra"
    updated = client.images.update(image["id"], remove_props=["x_owner_team"])
    assert "x_owner_team" not in updated
    client.image_tags.update(image["id"], "blue")
    assert client.images.get(image["id"])["tags"] == ["blue"]
    client.image_tags.delete(image["id"], "blue")
    assert client.images.get(image["id"])["tags"] == []
    data = b"".join(client.images.data(image["id"]))  # checked against os_hash_value by the client
    assert data == qcow2_bytes


def test_glanceclient_list_pages_members_and_deactivate(stack: Stack, qcow2_bytes: bytes) -> None:
    owner, other = stack.new_account("owner"), stack.new_account("other")
    mine, theirs = glance(stack, owner), glance(stack, other)
    made = [
        mine.images.create(name=f"p{i}", disk_format="qcow2", container_format="bare")["id"] for i in range(4)
    ]
    # page_size=3: glanceclient follows next until a page without it.
    assert sorted(i["id"] for i in mine.images.list(page_size=3)) == sorted(made)
    names = [i["name"] for i in mine.images.list(sort_key="name", sort_dir="asc")]
    assert names == ["p0", "p1", "p2", "p3"]
    member = mine.image_members.create(made[0], other.account_id)
    assert member["status"] == "pending"
    theirs.image_members.update(made[0], other.account_id, "accepted")
    assert [i["id"] for i in theirs.images.list()] == [made[0]]
    mine.images.upload(made[1], io.BytesIO(qcow2_bytes))
    mine.images.deactivate(made[1])
    assert mine.images.get(made[1])["status"] == "deactivated"
    mine.images.reactivate(made[1])
    assert mine.images.get(made[1])["status"] == "active"
    mine.images.delete(made[2])
    assert made[2] not in [i["id"] for i in mine.images.list()]


def _glance_cli() -> list[str]:
    found = shutil.which("glance") or str(Path(sys.executable).with_name("glance"))
    if not Path(found).exists():
        missing("the glance CLI (python-glanceclient) is not installed")
    return [found]


def test_glance_cli_image_list_with_the_password_method(stack: Stack, tmp_path: Path) -> None:
    key = stack.new_account("alpha")
    glance(stack, key).images.create(name="cli-visible", disk_format="qcow2", container_format="bare")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(tmp_path)  # glanceclient caches schemas in ~/.glanceclient
    args = [
        *_glance_cli(),
        "--os-auth-url",
        f"{stack.base_url}/identity/v3",
        "--os-username",
        key.access_key,
        f"--os-password={key.secret_key}",  # one word: a secret may start with "-"
        "--os-project-id",
        key.account_id,
        "--os-user-domain-id",
        "default",
        "--os-project-domain-id",
        "default",
        "image-list",
    ]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "cli-visible" in done.stdout
    wrong = [*args[:5], "--os-password=not-the-secret", *args[6:]]
    refused = subprocess.run(wrong, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert "cli-visible" not in refused.stdout


@pytest.mark.parametrize("project", ["other-account", None])
def test_password_scope_must_be_the_keys_account(stack: Stack, project: str | None) -> None:
    key = stack.new_account("alpha")
    auth: dict[str, object] = {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": {"name": key.access_key, "domain": {"id": "default"}, "password": key.secret_key}
            },
        }
    }
    if project is not None:
        auth["scope"] = {"project": {"id": project, "domain": {"id": "default"}}}
    response = stack.http.post(f"{stack.base_url}/identity/v3/auth/tokens", json={"auth": auth})
    if project is None:
        assert response.status_code == 201
        assert response.json()["token"]["project"]["id"] == key.account_id
    else:
        assert response.status_code == 401
        assert response.json()["error"]["code"] == 401
