"""openstacksdk 4.x, unchanged, on the same images: sign-in, create, upload, download, list, patch, tags,
members, deactivate, delete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.openstack.conftest import connect, md5
from tests.support.stack import Stack


def test_create_upload_download_byte_identical(stack: Stack, qcow2_bytes: bytes) -> None:
    key = stack.new_account("alpha")
    conn = connect(stack, key)
    image = conn.image.create_image(name="ubuntu-os", disk_format="qcow2", container_format="bare")
    assert image.status == "queued"
    assert image.visibility == "shared"  # Glance's default for v2 creates
    put_file(conn, image.id, qcow2_bytes)
    shown = conn.image.get_image(image.id)
    assert shown.status == "active"
    assert shown.checksum == md5(qcow2_bytes)
    assert shown.size == len(qcow2_bytes)
    assert shown.virtual_size == 32 << 20
    downloaded = conn.image.download_image(shown)
    assert downloaded.content == qcow2_bytes  # the SDK also checks os_hash_value itself


def test_cloud_layer_create_image_from_file(stack: Stack, qcow2_bytes: bytes, tmp_path: Path) -> None:
    key = stack.new_account("alpha")
    conn = connect(stack, key)
    path = tmp_path / "disk.qcow2"
    path.write_bytes(qcow2_bytes)
    image = conn.create_image(
        "from-file", filename=str(path), disk_format="qcow2", container_format="bare", wait=True
    )
    assert image.status == "active"
    assert conn.get_image("from-file").checksum == md5(qcow2_bytes)


def test_list_pages_and_patch_and_tags(stack: Stack) -> None:
    key = stack.new_account("alpha")
    conn = connect(stack, key)
    made = {
        conn.image.create_image(name=f"img-{i}", disk_format="qcow2", container_format="bare").id
        for i in range(5)
    }
    # limit=2: the SDK follows the relative next links until the last page (which has none).
    listed = [image.id for image in conn.image.images(limit=2)]
    assert sorted(listed) == sorted(made)
    assert len(listed) == len(set(listed))
    one = sorted(made)[0]
    updated = conn.image.update_image(one, name="renamed", min_ram=512, hw_disk_bus="virtio", x_build="42")
    assert updated.name == "renamed"
    assert updated.min_ram == 512
    again = conn.image.get_image(one)
    assert again.hw_disk_bus == "virtio"
    assert again.properties["x_build"] == "42"
    conn.image.add_tag(one, "gold")
    conn.image.add_tag(one, "v1")
    conn.image.remove_tag(one, "v1")
    assert conn.image.get_image(one).tags == ["gold"]
    assert [i.id for i in conn.image.images(name="renamed")] == [one]


def test_members_accepted_from_the_other_account(stack: Stack, qcow2_bytes: bytes) -> None:
    owner, other = stack.new_account("owner"), stack.new_account("other")
    mine, theirs = connect(stack, owner), connect(stack, other)
    image = mine.image.create_image(name="shared-one", disk_format="qcow2", container_format="bare")
    put_file(mine, image.id, qcow2_bytes)
    member = mine.image.add_member(image.id, member_id=other.account_id)
    assert member.status == "pending"
    assert image.id not in [i.id for i in theirs.image.images()]  # not listed until accepted
    theirs.image.update_member(member, image.id, status="accepted")
    assert image.id in [i.id for i in theirs.image.images()]
    assert [m.member_id for m in mine.image.members(image.id)] == [other.account_id]
    mine.image.remove_member(other.account_id, image.id)
    assert image.id not in [i.id for i in theirs.image.images()]


def test_deactivate_reactivate_and_delete(stack: Stack, qcow2_bytes: bytes) -> None:
    import openstack.exceptions

    key = stack.new_account("alpha")
    conn = connect(stack, key)
    image = conn.image.create_image(name="toggle", disk_format="qcow2", container_format="bare")
    put_file(conn, image.id, qcow2_bytes)
    conn.image.deactivate_image(image.id)
    assert conn.image.get_image(image.id).status == "deactivated"
    with pytest.raises(openstack.exceptions.SDKException):
        conn.image.download_image(conn.image.get_image(image.id))
    conn.image.reactivate_image(image.id)
    assert conn.image.download_image(conn.image.get_image(image.id)).content == qcow2_bytes
    conn.image.delete_image(image.id)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.image.get_image(image.id)


def put_file(conn: object, image_id: str, data: bytes) -> None:
    """``PUT …/file`` through the SDK's own session (the request ``upload_image`` makes)."""
    response = conn.image.put(  # type: ignore[attr-defined]
        f"/images/{image_id}/file", data=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status_code == 204, response.text


def test_a_clouds_yaml_with_the_key_pair_is_all_it_needs(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openstack

    key = stack.new_account("alpha")
    config = tmp_path / "clouds.yaml"
    config.write_text(
        "clouds:\n"
        "  scp-images:\n"
        "    auth_type: v3applicationcredential\n"
        "    auth:\n"
        f"      auth_url: {stack.base_url}/identity/v3\n"
        f"      application_credential_id: {key.access_key}\n"
        f"      application_credential_secret: {key.secret_key}\n"
    )
    for name in [n for n in os.environ if n.startswith("OS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(config))
    conn = openstack.connect(cloud="scp-images")
    made = conn.image.create_image(name="from-clouds-yaml", disk_format="qcow2", container_format="bare")
    assert [i.id for i in conn.image.images()] == [made.id]
    assert conn.current_project_id == key.account_id


def test_a_refusal_reaches_the_sdk_with_our_message_and_request_id(stack: Stack) -> None:
    """openstacksdk reads the request id from ``x-openstack-request-id``: a user quoting it in a report
    lets the operator find the call (the same id as ``X-Request-Id`` and the logs)."""
    import openstack

    conn = connect(stack, stack.new_account("alpha"))
    image = conn.image.create_image(name="guarded", protected=True)
    with pytest.raises(openstack.exceptions.ForbiddenException) as refused:
        conn.image.delete_image(image.id)
    assert refused.value.request_id and refused.value.request_id.startswith("req-")
    assert "protected" in str(refused.value).lower()
    raw = stack.http.get(f"{stack.base_url}/image/v2/images/{image.id}")
    assert raw.headers["x-openstack-request-id"] == raw.headers["x-request-id"]
    scp = stack.http.get(f"{stack.base_url}/v1/images/{image.id}")
    assert "x-openstack-request-id" not in scp.headers  # the SCP API keeps its own header only
