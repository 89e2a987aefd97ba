"""A disk converted through the v2 edge, as openstacksdk sees it: ``create_image(filename=…,
disk_format='vmdk')`` ends active with ``disk_format`` qcow2 and the read-only ``original_*`` attributes;
patching one of them is Glance's 403; a declared format the bytes contradict is refused."""

from __future__ import annotations

import stat
from pathlib import Path

import openstack.exceptions
import pytest

from scp_images.config import Settings
from tests.openstack.conftest import connect
from tests.support import corpus_vmdk
from tests.support.disks import disk_as, identical, sha512_of, source_qcow2
from tests.support.stack import Stack
from tests.support.tools import require_qemu, wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the edge, not storage


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The server's qemu-img waits 2 s before each call, so a running conversion can be seen."""
    wrapper = tmp_path / "slow-qemu-img"
    wrapper.write_text('#!/bin/sh\nsleep 2\nexec /usr/bin/qemu-img "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return Settings(data_dir=tmp_path / "data", database_url=database_url, qemu_img=str(wrapper))


@pytest.mark.parametrize(("disk_format", "container_format"), [("vmdk", "bare"), ("vhdx", "bare")])
def test_openstacksdk_uploads_a_disk_that_ends_active_as_qcow2(
    stack: Stack, tmp_path: Path, disk_format: str, container_format: str
) -> None:
    require_qemu()
    source = source_qcow2(tmp_path)
    disk = disk_as(source, disk_format, f"disk.{disk_format}")
    conn = connect(stack, stack.new_account("alpha"))
    image = conn.image.create_image(
        name="moved", filename=str(disk), disk_format=disk_format, container_format=container_format
    )
    active = wait_until(
        lambda: conn.image.get_image(image.id),
        accept=lambda shown: shown.status in ("active", "killed"),
        what="the conversion",
        timeout=120,
    )
    assert (active.status, active.disk_format, active.container_format) == ("active", "qcow2", "bare")
    assert active.properties["original_disk_format"] == disk_format
    assert active.properties["original_container_format"] == "bare"
    assert active.properties["original_size"] == disk.stat().st_size
    assert active.properties["original_sha512"] == sha512_of(disk)
    stored = tmp_path / "stored.qcow2"
    stored.write_bytes(conn.image.download_image(active).content)
    assert identical(stored, source)
    with pytest.raises(openstack.exceptions.ForbiddenException, match="read-only"):
        conn.image.update_image(active, original_disk_format="qcow2")


def test_an_ova_is_a_vmdk_in_an_ova_container(stack: Stack, tmp_path: Path) -> None:
    require_qemu()
    ova = corpus_vmdk.ova(tmp_path)
    conn = connect(stack, stack.new_account("alpha"))
    image = conn.image.create_image(name="ova", filename=str(ova), disk_format="vmdk", container_format="ova")
    active = wait_until(
        lambda: conn.image.get_image(image.id),
        accept=lambda shown: shown.status in ("active", "killed"),
        what="the conversion",
        timeout=120,
    )
    assert (active.status, active.disk_format, active.container_format) == ("active", "qcow2", "bare")
    shown = {k: active.properties[k] for k in ("original_disk_format", "original_container_format")}
    assert shown == {"original_disk_format": "vmdk", "original_container_format": "ova"}
    stored = tmp_path / "stored.qcow2"
    stored.write_bytes(conn.image.download_image(active).content)
    assert identical(stored, corpus_vmdk.known_raw(tmp_path))


def test_bytes_that_say_vmdk_under_vhdx_are_refused(stack: Stack, tmp_path: Path) -> None:
    require_qemu()
    vmdk = disk_as(source_qcow2(tmp_path), "vmdk", "disk.vhdx")
    conn = connect(stack, stack.new_account("alpha"))
    image = conn.image.create_image(name="liar", disk_format="vhdx", container_format="bare")
    response = conn.image.put(
        f"/images/{image.id}/file",
        data=vmdk.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 400
    assert "format_mismatch" in response.json()["error"]["message"]
    assert conn.image.get_image(image.id).status == "killed"


def test_the_uploads_task_says_the_phase_while_it_runs(stack: Stack, tmp_path: Path) -> None:
    require_qemu()
    vmdk = disk_as(source_qcow2(tmp_path), "vmdk", "disk.vmdk")
    conn = connect(stack, stack.new_account("alpha"))
    image = conn.image.create_image(name="task", disk_format="vmdk", container_format="bare")
    conn.image.put(
        f"/images/{image.id}/file",
        data=vmdk.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )

    def task() -> dict[str, object]:
        answer = conn.image.get(f"/images/{image.id}/tasks", headers={"OpenStack-API-Version": "image 2.12"})
        (only,) = answer.json()["tasks"]
        return dict(only)

    running = wait_until(task, accept=lambda t: t["status"] == "processing" and t["message"], what="a phase")
    assert str(running["message"]).split()[0] in ("inspecting", "converting", "hashing", "storing")
    done = wait_until(task, accept=lambda t: t["status"] != "processing", what="the end", timeout=120)
    assert (done["status"], done["message"]) == ("success", "")
