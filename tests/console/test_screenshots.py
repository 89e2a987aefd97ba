"""The docs' pictures of the console (docs/screenshots/*.png), taken through the same browser harness as
the other tests. `make screenshots` runs this file with SCP_IMAGES_SCREENSHOTS=docs/screenshots; in a
normal run the pictures go to a temporary folder (the test is cheap: one server, a few pages)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.api.helpers import publish
from tests.console.browser import Console, expect
from tests.console.images import killed_upload
from tests.support.stack import Stack

DESKTOP = {"width": 1100, "height": 720}
PHONE = {"width": 390, "height": 760}
SHOTS = ("images", "image-detail", "create", "field-error", "image-detail-ko", "images-390")


def test_docs_screenshots(
    open_console: Callable[..., Console], console_stack: Stack, make_qcow2: Any, screenshots: Path
) -> None:
    key = console_stack.new_account("docs")
    disk = make_qcow2("docs.qcow2", "64M")
    publish(console_stack, disk, key.account_id, name="rocky-9")
    publish(console_stack, disk, key.account_id, "shared", name="team-base")
    killed_upload(console_stack, key, "not-a-disk")
    image = publish(console_stack, disk, key.account_id, name="ubuntu-22_04")

    console = open_console(viewport=DESKTOP)
    console.sign_in(key)
    page = console.page
    expect(page.locator("#image-table tbody tr")).to_have_count(4)
    console.shot("images")

    console.open(f"#/images/{image['id']}")
    expect(console.heading()).to_have_text("ubuntu-22_04")
    console.shot("image-detail")

    console.open("#/create")
    expect(console.heading()).to_have_text("Create image")
    console.shot("create")
    name = page.get_by_label("Name", exact=True)
    name.fill("ubuntu/22.04")
    page.get_by_role("button", name="Create image").click()
    expect(name).to_have_attribute("aria-invalid", "true")
    console.shot("field-error")

    page.get_by_label("Language").select_option("ko-KR")
    console.open(f"#/images/{image['id']}")
    expect(page.locator("#header-status .badge")).to_have_text("활성")
    console.shot("image-detail-ko")

    phone = open_console(viewport=PHONE)
    phone.sign_in(key)
    expect(phone.page.locator("#image-table tbody tr")).to_have_count(4)
    phone.shot("images-390")

    for shot in SHOTS:
        assert (screenshots / f"{shot}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot
