"""``image create --file`` with a disk the server converts, as a person sees it on an 80-column terminal:
the upload, then the phases and the conversion's percentage, until the image is active; a refused disk
shows its reason and next step (English and Korean) and exits 1. The file's name never decides the
format."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from scp_images.client import Client
from scp_images.config import Settings
from tests.cli.conftest import json_of, key_env, run_cli
from tests.cli.terminal import on_terminal
from tests.support.disks import delta_vmdk, disk_as, identical, source_qcow2
from tests.support.stack import Key, Stack

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # output, not storage

SLOW_SECONDS = 3  # long enough for the CLI's one-second polls to see the conversion running


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The server's qemu-img waits a little before each call, so the conversion is seen while it runs."""
    wrapper = tmp_path / "slow-qemu-img"
    wrapper.write_text(f'#!/bin/sh\nsleep {SLOW_SECONDS}\nexec /usr/bin/qemu-img "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return Settings(data_dir=tmp_path / "data", database_url=database_url, qemu_img=str(wrapper))


def _stored_matches(client: Client, image_id: str, source: Path, tmp_path: Path) -> bool:
    saved = client.images.download(image_id, tmp_path / "stored.qcow2")
    return identical(saved, source)


@pytest.mark.parametrize(
    ("language", "converting", "done"),
    [
        ("en-US", "converting", "disk.vmdk was converted from vmdk into qcow2"),
        ("ko-KR", "qcow2로 변환 중", "disk.vmdk을(를) vmdk에서 qcow2로 변환했습니다"),
    ],
)
def test_a_vmdk_is_followed_phase_by_phase_until_active(
    stack: Stack, owner: Key, home: Path, tmp_path: Path, language: str, converting: str, done: str
) -> None:
    source = source_qcow2(tmp_path)
    vmdk = disk_as(source, "vmdk", "disk.vmdk")
    env = {**key_env(stack, owner, home), "SCP_LANGUAGE": language}
    screen = on_terminal(env, "image", "create", "--name", "vm", "--os-distro", "ubuntu", "--file", str(vmdk))
    assert screen.returncode == 0, screen.raw
    screen.assert_clean()
    assert screen.widest() <= 80, screen.lines
    assert converting in screen.text and re.search(r"\d+%", screen.text), screen.lines
    assert done in screen.text
    with stack.client(owner) as client:
        (image,) = client.images.list(name="vm")
        assert (image.status, image.disk_format) == ("active", "qcow2")
        original = client.images.import_status(image.id).original
        assert original is not None and (original.disk_format, original.size) == ("vmdk", vmdk.stat().st_size)
        assert _stored_matches(client, image.id, source, tmp_path)


def test_a_vhdx_named_vmdk_is_converted_as_a_vhdx(
    stack: Stack, owner: Key, home: Path, tmp_path: Path
) -> None:
    source = source_qcow2(tmp_path)
    misnamed = disk_as(source, "vhdx", "really-a-vhdx.vmdk")
    made = run_cli(key_env(stack, owner, home), "create", "--name", "hv", "--os-distro", "rocky", "--file",
                   str(misnamed), "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    image = json_of(made)
    assert (image["status"], image["disk_format"]) == ("active", "qcow2")
    status = run_cli(key_env(stack, owner, home), "import-status", image["id"], "--json")
    assert json_of(status)["original"]["disk_format"] == "vhdx"


def test_a_raw_disk_is_taken_when_declared(stack: Stack, owner: Key, home: Path, tmp_path: Path) -> None:
    source = source_qcow2(tmp_path)
    raw = disk_as(source, "raw", "disk.img")
    env = key_env(stack, owner, home)
    args = ("--name", "r", "--os-distro", "ubuntu", "--file", str(raw), "--input-format", "raw", "--json")
    made = run_cli(env, "create", *args)
    assert made.returncode == 0, made.stderr
    image = json_of(made)
    assert image["status"] == "active"
    shown = run_cli(env, "import-status", image["id"])
    assert re.search(r"original_disk_format\s+raw", shown.stdout), shown.stdout
    with stack.client(owner) as client:
        assert _stored_matches(client, image["id"], source, tmp_path)


@pytest.mark.parametrize(
    ("language", "words"),
    [("en-US", "consolidate its snapshots"), ("ko-KR", "스냅샷을 통합하거나")],
)
def test_a_delta_vmdk_is_refused_with_its_reason_and_next_step(
    stack: Stack, owner: Key, home: Path, tmp_path: Path, language: str, words: str
) -> None:
    delta = delta_vmdk(tmp_path)
    env = {**key_env(stack, owner, home), "SCP_LANGUAGE": language}
    refused = run_cli(env, "create", "--name", "delta", "--os-distro", "ubuntu", "--file", str(delta))
    assert refused.returncode == 1, refused.stdout
    assert "vmdk_parent" in refused.stderr and words in refused.stderr, refused.stderr
    with stack.client(owner) as client:
        assert client.images.list(name="delta") == []  # removed, as a refused upload's image
