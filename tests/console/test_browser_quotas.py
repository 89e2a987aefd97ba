"""The console in a real browser shows a quota refusal like any API error: its code and its text."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from scp_images.domain.quotas import Overrides
from tests.console.browser import Console, expect
from tests.support.stack import Stack


def test_a_refused_create_shows_the_quota_code_and_text(console: Console, console_stack: Stack) -> None:
    key = console_stack.new_account("full")
    console_stack.components.quotas.set(key.account_id, Overrides(images=0))
    console.sign_in(key)
    page = console.page
    console.open("#/create")
    expect(console.heading()).to_have_text("Create image")
    page.get_by_label("Upload a local disk file").check()
    page.get_by_label("Name", exact=True).fill("one too many")
    page.get_by_label("Disk file", exact=True).set_input_files(str(Path(__file__)))
    page.get_by_role("button", name="Create image").click()
    box = console.error_box()
    expect(box.locator(".error-code")).to_have_text("virtualserver.quota.ImageCountTotalExceeded")
    expect(box.locator(".error-detail")).to_contain_text(
        "Quota image_count_total exceeded: this account may have 0 images and has 0"
    )
    expect(box.locator(".error-request-id")).to_have_text(re.compile(r"^req-[0-9a-f]{32}$"))
    assert console_stack.components.quotas.show(key.account_id).usage.images == 0


def test_an_upload_past_the_bytes_shows_the_quota_and_the_image_is_killed(
    console: Console, console_stack: Stack, qcow2_with_data: Callable[[str, int], Path]
) -> None:
    key = console_stack.new_account("bytes")
    disk = qcow2_with_data("over.qcow2", 1)
    console_stack.components.quotas.set(key.account_id, Overrides(bytes=disk.stat().st_size - 1))
    console.sign_in(key)
    page = console.page
    console.open("#/create")
    expect(console.heading()).to_have_text("Create image")
    page.get_by_label("Upload a local disk file").check()
    page.get_by_label("Name", exact=True).fill("too big")
    page.get_by_label("Disk file", exact=True).set_input_files(str(disk))
    page.get_by_role("button", name="Create image").click()
    # A refused upload ends on the image's page (as any refused data does): killed, with the quota named.
    main = page.get_by_role("main")
    expect(main.get_by_role("heading", name="too big")).to_be_visible(timeout=60_000)
    expect(main).to_contain_text("Killed")
    expect(main).to_contain_text("Quota image_size_total exceeded")
    listed = console_stack.request("GET", "/v1/images", key, params={"visibility": "private"})
    (image,) = listed.json()["images"]
    assert image["status"] == "killed"
