"""``raw`` images through openstacksdk: stored as given with virtual_size = size; bytes of another
format sent as raw are refused (400) and the image is killed, as Glance's format-match check does."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.openstack.conftest import connect, md5
from tests.openstack.test_sdk import put_file
from tests.support.stack import Stack
from tests.support.tools import require_qemu, run_tool


def _raw(tmp_path: Path) -> bytes:
    require_qemu()
    path = tmp_path / "disk.raw"
    run_tool("qemu-img", "create", "-q", "-f", "raw", str(path), "8M")
    run_tool("qemu-io", "-f", "raw", "-c", "write -P 0x5a 1M 64k", str(path))
    return path.read_bytes()


def test_a_raw_disk_is_stored_as_given(stack: Stack, tmp_path: Path) -> None:
    data = _raw(tmp_path)
    conn = connect(stack, stack.new_account("alpha"))
    image = conn.image.create_image(name="raw-disk", disk_format="raw", container_format="bare")
    put_file(conn, image.id, data)
    shown = conn.image.get_image(image.id)
    assert (shown.status, shown.disk_format, shown.size, shown.virtual_size) == (
        "active",
        "raw",
        len(data),
        len(data),
    )
    assert shown.checksum == md5(data)
    assert conn.image.download_image(shown).content == data


@pytest.mark.parametrize("fmt", ["qcow2", "vmdk", "vhdx"])
def test_another_format_sent_as_raw_is_refused(stack: Stack, tmp_path: Path, fmt: str) -> None:
    require_qemu()
    path = tmp_path / f"disk.{fmt}"
    run_tool("qemu-img", "create", "-q", "-f", fmt, str(path), "8M")
    conn = connect(stack, stack.new_account("alpha"))
    image = conn.image.create_image(name="liar", disk_format="raw", container_format="bare")
    response = conn.image.put(
        f"/images/{image.id}/file",
        data=path.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 400
    assert "disk_format is raw but the data is" in response.json()["error"]["message"]
    assert conn.image.get_image(image.id).status == "killed"


def test_other_disk_formats_get_a_400_naming_the_supported_ones(stack: Stack) -> None:
    import openstack.exceptions

    conn = connect(stack, stack.new_account("alpha"))
    with pytest.raises(openstack.exceptions.BadRequestException) as refused:
        conn.image.create_image(name="iso", disk_format="iso", container_format="bare")
    assert "qcow2, raw, vmdk, vhdx, vhd, vdi" in str(refused.value)
