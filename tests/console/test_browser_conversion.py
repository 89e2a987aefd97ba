"""The console's upload of a disk the server converts: after the bytes are sent, the image's page shows
the phases (converting, with its percentage once known) until the image is active, and the original disk;
a refused disk's reason is shown as text. The file picker offers every accepted disk, and a raw disk is
declared with the Disk format choice."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from scp_images.config import Settings
from tests.console.browser import Console, expect
from tests.support.disks import delta_vmdk, disk_as, source_qcow2
from tests.support.stack import Stack, start_stack
from tests.support.tools import require_qemu


@pytest.fixture(scope="module")
def console_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A server whose qemu-img waits 3 s before each call: the page sees the conversion running."""
    root = tmp_path_factory.mktemp("conversion-stack")
    wrapper = root / "slow-qemu-img"
    wrapper.write_text('#!/bin/sh\nsleep 3\nexec /usr/bin/qemu-img "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    running = start_stack(Settings(data_dir=root / "data", qemu_img=str(wrapper)))
    yield running
    running.stop()


def _upload(console: Console, name: str, disk: Path, disk_format: str | None = None) -> None:
    page = console.page
    console.open("#/create")
    expect(console.heading()).to_have_text("Create image")
    accepted = page.get_by_label("Disk file", exact=True).get_attribute("accept") or ""
    assert {".qcow2", ".vmdk", ".ova", ".vhdx", ".vhd", ".vdi", ".raw", ".img"} <= set(accepted.split(","))
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Disk file", exact=True).set_input_files(str(disk))
    if disk_format is not None:
        page.get_by_label("Disk format", exact=True).select_option(disk_format)
    page.get_by_role("button", name="Create image").click()
    expect(console.heading()).to_have_text(name, timeout=60_000)


def test_a_vhdx_upload_shows_converting_and_ends_active(
    console: Console, console_stack: Stack, tmp_path: Path
) -> None:
    require_qemu()
    vhdx = disk_as(source_qcow2(tmp_path), "vhdx", "hyper-v.vhdx")
    key = console_stack.new_account("mover")
    console.sign_in(key)
    _upload(console, "from hyper-v", vhdx)
    page = console.page
    expect(page.locator("#import-phase")).to_have_attribute("data-phase", "converting", timeout=30_000)
    expect(page.locator("#import-phase")).to_have_text("Converting into qcow2")
    console.axe("a converting image")
    expect(page.locator("#header-status .badge")).to_have_text("Active", timeout=60_000)
    expect(page.locator("#import-original")).to_contain_text("VHDX")
    image_id = page.url.rsplit("/", 1)[1]
    shown = console_stack.request("GET", f"/v1/images/{image_id}", key).json()
    assert shown["disk_format"] == "qcow2"
    job = console_stack.request("GET", f"/v1/images/{image_id}/import", key).json()
    expect(page.locator("#import-original code")).to_have_text(job["original"]["sha512"])


def test_a_raw_disk_is_declared_with_the_format_choice(
    console: Console, console_stack: Stack, tmp_path: Path
) -> None:
    require_qemu()
    raw = disk_as(source_qcow2(tmp_path), "raw", "disk.img")
    key = console_stack.new_account("raw")
    console.sign_in(key)
    _upload(console, "a raw disk", raw, disk_format="raw")
    expect(console.page.locator("#header-status .badge")).to_have_text("Active", timeout=60_000)
    expect(console.page.locator("#import-original")).to_contain_text("RAW")


def test_a_refused_disk_shows_its_reason_as_text(
    console: Console, console_stack: Stack, tmp_path: Path
) -> None:
    require_qemu()
    delta = delta_vmdk(tmp_path)
    key = console_stack.new_account("refused")
    console.sign_in(key)
    _upload(console, "a delta", delta)
    page = console.page
    expect(page.locator("#header-status .badge")).to_have_text("Killed", timeout=30_000)
    image_id = page.url.rsplit("/", 1)[1]
    reason = console_stack.request("GET", f"/v1/images/{image_id}/import", key).json()["reason"]
    assert "vmdk_parent" in reason
    expect(page.locator("#import-reason")).to_have_text(reason)
    expect(page.locator("#import-reason *")).to_have_count(0)  # text only: nothing in it became markup
