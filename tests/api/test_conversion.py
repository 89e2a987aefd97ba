"""Disk conversion over HTTP through a real server: a VMDK and an OVA through the SCP upload extension
and a VHDX imported from object storage (SeaweedFS) end active as qcow2 holding the same disk, the
import status showing the original's sha512 (of the whole file as sent); a raw disk is taken when
declared. Every case runs with the filesystem and the S3 blob store, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.api.helpers import wait_status
from tests.support import corpus_vmdk
from tests.support.stack import Key, Stack
from tests.support.tools import run_tool


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("conversion-corpus")


@pytest.fixture
def owner(lifecycle_stack: Stack, source_bucket: str) -> Key:
    key = lifecycle_stack.new_account("owner")
    lifecycle_stack.grant(key, source_bucket)
    return key


def _converted(corpus: Path, name: str, driver: str, options: str) -> Path:
    target = corpus / name
    if not target.exists():
        raw = corpus_vmdk.known_raw(corpus)
        run_tool("qemu-img", "convert", "-q", "-f", "raw", "-O", driver, "-o", options, str(raw), str(target))
    return target


def _downloaded(stack: Stack, key: Key, image: dict[str, Any], path: Path) -> Path:
    response = stack.request("GET", f"/v2/images/{image['id']}/file", key, follow_redirects=True)
    assert response.status_code == 200
    path.write_bytes(response.content)
    body = response.content
    assert (image["size"], image["checksum"]) == (len(body), hashlib.md5(body).hexdigest())
    assert image["os_hash_value"] == hashlib.sha512(body).hexdigest()
    return path


def _original(stack: Stack, key: Key, image_id: str) -> dict[str, Any]:
    status = stack.request("GET", f"/v1/images/{image_id}/import", key).json()
    assert status["status"] == "succeeded"
    original: dict[str, Any] = status["original"]
    return original


def _same_disk(stored: Path, corpus: Path) -> None:
    """qemu-img compare says identical (it exits non-zero when not: ToolFailed)."""
    raw = corpus_vmdk.known_raw(corpus)
    run_tool("qemu-img", "compare", "-q", "-f", "qcow2", "-F", "raw", str(stored), str(raw))


def test_a_vmdk_uploaded_through_the_scp_extension_ends_active_as_qcow2(
    lifecycle_stack: Stack, owner: Key, corpus: Path, tmp_path: Path
) -> None:
    stack = lifecycle_stack
    source = _converted(corpus, "disk.vmdk", "vmdk", "subformat=streamOptimized")
    data = source.read_bytes()
    body = {"name": "from-vmware", "os_distro": "ubuntu"}
    created = stack.request("POST", "/v1/images", owner, params={"source": "upload"}, json=body).json()
    answered = stack.request("PUT", f"/v2/images/{created['id']}/file", owner, content=data)
    assert answered.status_code == 204  # once received, inspected and staged: the conversion runs after
    done = wait_status(stack, owner, created["id"], "active", "killed")
    assert (done["status"], done["disk_format"], done["container_format"]) == ("active", "qcow2", "bare")
    assert done["virtual_size"] == corpus_vmdk.RAW_SIZE
    _same_disk(_downloaded(stack, owner, done, tmp_path / "stored.qcow2"), corpus)
    original = _original(stack, owner, created["id"])
    assert original == {"disk_format": "vmdk", "size": len(data), "sha512": hashlib.sha512(data).hexdigest()}
    assert list(stack.components.conversions.host.temp_dir.glob("job-*")) == []


def test_an_ova_uploaded_through_the_scp_extension_keeps_the_whole_ovas_sha512(
    lifecycle_stack: Stack, owner: Key, corpus: Path, tmp_path: Path
) -> None:
    stack = lifecycle_stack
    data = corpus_vmdk.ova(corpus).read_bytes()
    body = {"name": "from-vsphere", "os_distro": "ubuntu"}
    created = stack.request("POST", "/v1/images", owner, params={"source": "upload"}, json=body).json()
    answered = stack.request("PUT", f"/v2/images/{created['id']}/file", owner, content=data)
    assert answered.status_code == 204
    done = wait_status(stack, owner, created["id"], "active", "killed")
    assert (done["status"], done["disk_format"]) == ("active", "qcow2")
    _same_disk(_downloaded(stack, owner, done, tmp_path / "stored.qcow2"), corpus)
    # The whole .ova as it was sent, not only the disk inside it.
    original = _original(stack, owner, created["id"])
    assert original == {"disk_format": "ova", "size": len(data), "sha512": hashlib.sha512(data).hexdigest()}
    assert list(stack.components.conversions.host.temp_dir.glob("job-*")) == []


def test_a_vhdx_imported_from_object_storage_ends_active_as_qcow2(
    lifecycle_stack: Stack, owner: Key, corpus: Path, put_object: Any, tmp_path: Path
) -> None:
    stack = lifecycle_stack
    vhdx = _converted(corpus, "disk.vhdx", "vhdx", "subformat=dynamic")
    url = put_object(vhdx, "exports/disk.vhdx")
    body = {"name": "from-hyper-v", "os_distro": "windows", "url": url}
    created = stack.request("POST", "/v1/images", owner, json=body).json()
    done = wait_status(stack, owner, created["id"], "active", "killed")
    assert (done["status"], done["disk_format"]) == ("active", "qcow2")
    _same_disk(_downloaded(stack, owner, done, tmp_path / "stored.qcow2"), corpus)
    assert _original(stack, owner, created["id"])["sha512"] == hashlib.sha512(vhdx.read_bytes()).hexdigest()
    assert len(list(stack.components.blobs.keys())) == 1  # the stored qcow2 alone: the original is gone


def test_raw_is_taken_when_declared_and_refused_when_not(
    lifecycle_stack: Stack, owner: Key, corpus: Path, put_object: Any, tmp_path: Path
) -> None:
    stack = lifecycle_stack
    raw = corpus_vmdk.known_raw(corpus)
    body = {"name": "raw-disk", "os_distro": "ubuntu"}
    refused = stack.request("POST", "/v1/images", owner, params={"source": "upload"}, json=body).json()
    answered = stack.request("PUT", f"/v2/images/{refused['id']}/file", owner, content=raw.read_bytes())
    assert answered.status_code == 400 and "not_qcow2" in answered.json()["errors"][0]["detail"]

    url = put_object(raw, "exports/disk.raw")
    created = stack.request("POST", "/v1/images", owner, params={"source": "upload"}, json=body).json()
    started = stack.request(
        "POST", f"/v1/images/{created['id']}/import", owner, json={"url": url, "input_format": "raw"}
    )
    assert started.status_code == 202
    done = wait_status(stack, owner, created["id"], "active", "killed")
    assert (done["status"], done["disk_format"]) == ("active", "qcow2")
    _same_disk(_downloaded(stack, owner, done, tmp_path / "stored.qcow2"), corpus)
    assert _original(stack, owner, created["id"])["sha512"] == hashlib.sha512(raw.read_bytes()).hexdigest()
