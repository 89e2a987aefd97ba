"""One image, two APIs: made through one, used through the other, under the same access rules; the fields
both show agree, and a deactivated image is withheld on every download path."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from scp_images.client import ApiError
from tests.openstack.conftest import connect, glance, md5
from tests.support.stack import Stack

SHARED_FIELDS = (
    "owner",
    "visibility",
    "protected",
    "min_disk",
    "min_ram",
    "checksum",
    "os_hash_value",
    "size",
    "virtual_size",
    "status",
)


def _v2(stack: Stack, key: Any, image_id: str) -> dict[str, Any]:
    from tests.openstack.conftest import token

    response = stack.http.get(
        f"{stack.base_url}/image/v2/images/{image_id}", headers={"X-Auth-Token": token(stack, key)}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _agree(scp: Any, v2: dict[str, Any]) -> None:
    assert {f: getattr(scp, f) for f in SHARED_FIELDS} == {f: v2[f] for f in SHARED_FIELDS}


def test_made_in_scp_used_in_v2(stack: Stack, make_qcow2: Any, tmp_path: Path) -> None:
    key = stack.new_account("alpha")
    path = make_qcow2("scp.qcow2", "48M")
    data = path.read_bytes()
    scp = stack.client(key)
    made = scp.images.create_from_file(path, "from-scp", "ubuntu", min_disk=3, min_ram=256, protected=True)
    _agree(made, _v2(stack, key, made.id))
    conn = connect(stack, key)
    shown = conn.image.get_image(made.id)
    assert shown.os_distro == "ubuntu"
    assert conn.image.download_image(shown).content == data
    # The v2 owner deactivates: the SCP API shows it as Glance does, and no download path serves it.
    conn.image.deactivate_image(made.id)
    assert scp.images.show(made.id).status == "deactivated"
    with pytest.raises(ApiError) as refused:
        scp.images.download(made.id, tmp_path / "out.qcow2")
    assert refused.value.status == 403
    assert refused.value.code == "virtualserver.image.Deactivated"
    scp_file = stack.request("GET", f"/v2/images/{made.id}/file", key)
    assert scp_file.status_code == 403
    conn.image.reactivate_image(made.id)
    assert scp.images.download(made.id, tmp_path / "out.qcow2").read_bytes() == data
    _agree(scp.images.show(made.id), _v2(stack, key, made.id))


def test_made_in_v2_used_in_scp(stack: Stack, qcow2_bytes: bytes, tmp_path: Path) -> None:
    owner, other = stack.new_account("owner"), stack.new_account("other")
    client = glance(stack, owner)
    image = client.images.create(disk_format="qcow2", container_format="bare", min_ram=128)  # no name
    scp = stack.client(owner)
    shown = scp.images.show(image["id"])
    assert shown.name == ""  # the SCP API's clients need a string
    assert shown.visibility == "shared"  # the v2 default
    # glance-direct: stage (checked by the whole pipeline), then import.
    client.images.stage(image["id"], io.BytesIO(qcow2_bytes))
    assert scp.images.show(image["id"]).status == "uploading"
    client.images.image_import(image["id"], method="glance-direct")
    active = scp.images.show(image["id"])
    assert active.status == "active"
    assert active.checksum == md5(qcow2_bytes)
    _agree(active, _v2(stack, owner, image["id"]))
    assert scp.images.download(image["id"], tmp_path / "v2.qcow2").read_bytes() == qcow2_bytes
    # A member added through v2 is the SCP API's member; the SCP accept shows in v2's list.
    client.image_members.create(image["id"], other.account_id)
    stack.client(other).images.members.set_status(image["id"], other.account_id, "accepted")
    assert [i["id"] for i in glance(stack, other).images.list()] == [image["id"]]
    # Extra properties are v2's only: the SCP API's image has exactly its own fields.
    client.images.update(image["id"], x_team="infra")
    assert "x_team" not in scp.images.show(image["id"]).raw


@pytest.mark.parametrize(
    "uri",
    ["s3://not-granted/disk.qcow2", "https://not-allowlisted.example/disk.qcow2", "file:///etc/disk.qcow2"],
)
def test_web_download_follows_the_scp_source_rules(stack: Stack, uri: str) -> None:
    """The same refusal, status and text as the SCP API's import of the same URL."""
    key = stack.new_account("alpha")
    client = glance(stack, key)
    image = client.images.create(name="web", disk_format="qcow2", container_format="bare")
    from tests.openstack.conftest import token

    v2 = stack.http.post(
        f"{stack.base_url}/image/v2/images/{image['id']}/import",
        headers={"X-Auth-Token": token(stack, key)},
        json={"method": {"name": "web-download", "uri": uri}},
    )
    scp = stack.request("POST", f"/v1/images/{image['id']}/import", key, json={"url": uri})
    assert v2.status_code == scp.status_code
    assert v2.status_code in (400, 403)
    assert v2.json()["error"]["message"] == scp.json()["errors"][0]["detail"]
    assert client.images.get(image["id"])["status"] == "queued"
