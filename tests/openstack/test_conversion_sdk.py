"""Disks to convert through openstacksdk: ``disk_format='vmdk'`` (and an OVA under ``container_format='ova'``)
uploaded with the v2 API end active as a qcow2 holding the same disk, with their original kept read-only."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.openstack.conftest import connect
from tests.openstack.test_sdk import put_file
from tests.support import corpus_vmdk
from tests.support.stack import Stack
from tests.support.tools import require_qemu, run_tool, wait_until


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_qemu()
    return tmp_path_factory.mktemp("sdk-corpus")


@pytest.mark.parametrize(
    ("make", "container_format", "original"),
    [(corpus_vmdk.stream_optimized, "bare", "vmdk"), (corpus_vmdk.ova, "ova", "vmdk")],
)
def test_a_vmdk_through_openstacksdk_ends_active_as_the_same_disk_in_qcow2(
    stack: Stack, corpus: Path, tmp_path: Path, make: object, container_format: str, original: str
) -> None:
    data = make(corpus).read_bytes()  # type: ignore[operator]
    conn = connect(stack, stack.new_account("alpha"))
    image = conn.image.create_image(name="from-vmware", disk_format="vmdk", container_format=container_format)
    put_file(conn, image.id, data)
    shown = wait_until(
        lambda: conn.image.get_image(image.id),
        accept=lambda now: now.status in ("active", "killed"),
        what="the conversion to end",
        timeout=60,
    )
    assert (shown.status, shown.disk_format, shown.container_format) == ("active", "qcow2", "bare")
    assert shown.virtual_size == corpus_vmdk.RAW_SIZE
    stored = tmp_path / "stored.qcow2"
    stored.write_bytes(conn.image.download_image(shown).content)
    raw = corpus_vmdk.known_raw(corpus)
    run_tool("qemu-img", "compare", "-q", "-f", "qcow2", "-F", "raw", str(stored), str(raw))  # raises if not
    kept = {
        k: shown.properties.get(k)
        for k in ("original_disk_format", "original_container_format", "original_size")
    }
    assert kept == {
        "original_disk_format": original,
        "original_container_format": container_format,
        "original_size": len(data),
    }
    assert shown.properties["original_sha512"] == hashlib.sha512(data).hexdigest()


def test_vmdk_bytes_under_disk_format_vhdx_are_refused(stack: Stack, corpus: Path) -> None:
    conn = connect(stack, stack.new_account("alpha"))
    image = conn.image.create_image(name="liar", disk_format="vhdx", container_format="bare")
    response = conn.image.put(
        f"/images/{image.id}/file",
        data=corpus_vmdk.stream_optimized(corpus).read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 400
    assert "disk_format is vhdx but the data is a VMDK disk" in response.json()["error"]["message"]
    assert conn.image.get_image(image.id).status == "killed"
