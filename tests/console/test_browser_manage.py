"""The console in a real browser: changing, deleting and sharing images, the Korean UI, the keyboard and a
narrow window."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.api.helpers import publish
from tests.console.browser import Console, expect
from tests.support.stack import Stack

NARROW = {"width": 560, "height": 900}


def open_image(console: Console, image: dict[str, Any]) -> None:
    console.open(f"#/images/{image['id']}")
    expect(console.heading()).to_have_text(image["name"])


def field_value(console: Console, name: str) -> Any:
    return console.page.locator(f'#properties dd[data-field="{name}"]')


def test_update_then_refused_and_real_delete(console: Console, console_stack: Stack, make_qcow2: Any) -> None:
    key = console_stack.new_account("changer")
    image = publish(console_stack, make_qcow2("c.qcow2", "16M"), key.account_id, name="changeable")
    console.sign_in(key)
    open_image(console, image)
    page = console.page
    page.get_by_role("button", name="Edit", exact=True).click()
    dialog = page.get_by_role("dialog", name="Edit changeable")
    expect(dialog.get_by_label("Min disk (GB)")).to_be_focused()
    dialog.get_by_label("Min disk (GB)").fill("12")
    dialog.get_by_label("Min RAM (MB)").fill("2048")
    dialog.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.locator("#notice")).to_have_text("Saved the changes to changeable.")
    expect(field_value(console, "min_disk")).to_have_text("12")
    expect(field_value(console, "min_ram")).to_have_text("2048")
    page.get_by_role("button", name="Protect", exact=True).click()
    expect(page.locator("#notice")).to_have_text("changeable is now protected.")
    expect(field_value(console, "protected")).to_have_text("Yes")
    shown = console_stack.request("GET", f"/v1/images/{image['id']}", key).json()
    assert (shown["min_disk"], shown["min_ram"], shown["protected"]) == (12, 2048, True)

    # a protected image explains itself, and the server's refusal is shown with its code and request id
    expect(page.locator("#protected-note")).to_contain_text("protected")
    page.get_by_role("button", name="Delete image").click()
    dialog = page.get_by_role("dialog", name="Delete image?")
    expect(dialog).to_contain_text("“changeable”")
    expect(dialog).to_contain_text("It is protected, so the server will refuse")
    console.axe("the delete confirmation")
    dialog.get_by_role("button", name="Delete changeable").click()
    box = console.error_box()
    expect(box.locator(".error-code")).to_have_text("virtualserver.image.Protected")
    expect(box.locator(".error-detail")).to_contain_text("protected and cannot be deleted")
    expect(box.locator(".error-request-id")).to_have_text(re.compile(r"^req-[0-9a-f]{32}$"))
    assert console_stack.request("GET", f"/v1/images/{image['id']}", key).status_code == 200

    page.get_by_role("button", name="Unprotect").click()
    expect(field_value(console, "protected")).to_have_text("No")
    page.get_by_role("button", name="Delete image").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert console_stack.request("GET", f"/v1/images/{image['id']}", key).status_code == 200
    page.get_by_role("button", name="Delete image").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete changeable").click()
    expect(console.heading()).to_have_text("Images")
    expect(page.locator("#notice")).to_have_text("Deleted the image changeable.")
    assert console_stack.request("GET", f"/v1/images/{image['id']}", key).status_code == 404


def test_share_add_member_then_accept_as_the_member(
    open_console: Callable[..., Console], console_stack: Stack, make_qcow2: Any
) -> None:
    owner_key = console_stack.new_account("sharer")
    member_key = console_stack.new_account("member")
    image = publish(console_stack, make_qcow2("s.qcow2", "16M"), owner_key.account_id, name="team-base")
    owner = open_console()
    owner.sign_in(owner_key)
    open_image(owner, image)
    page = owner.page
    toolbar = page.get_by_role("group", name="Actions")
    expect(toolbar.get_by_role("button", name="Members")).to_have_count(0)  # private: nothing to manage
    toolbar.get_by_role("button", name="Share", exact=True).click()
    expect(page.locator("#notice")).to_have_text("The image team-base is now shared.")
    expect(field_value(owner, "visibility")).to_have_text("Shared")
    toolbar.get_by_role("button", name="Members").click()
    dialog = page.get_by_role("dialog", name="Members of team-base")
    expect(dialog).to_contain_text("No members yet.")
    dialog.get_by_label("Member account ID").fill(member_key.account_id)
    dialog.get_by_role("button", name="Add member").click()
    member_row = dialog.locator(f'#member-table tr[data-member-id="{member_key.account_id}"]')
    expect(member_row.locator(".badge")).to_have_text("Pending")
    owner.axe("the members dialog")

    member = open_console()
    member.sign_in(member_key)
    member.page.get_by_role("link", name="Pending images").click()
    expect(member.heading()).to_have_text("Pending images")
    pending_row = member.page.locator(f'#pending-table tr[data-image-id="{image["id"]}"]')
    expect(pending_row).to_contain_text("team-base")
    member.axe("the pending images page")
    member.shot("pending-images")
    pending_row.get_by_role("button", name="Accept team-base").click()
    expect(member.page.locator("#notice")).to_have_text("Accepted team-base.")
    expect(pending_row).to_have_count(0)
    member.page.get_by_role("link", name="Images", exact=True).click()
    expect(member.page.locator("#image-table tbody th")).to_have_text(["team-base"])

    page.reload()
    expect(page.get_by_role("dialog")).to_have_count(0)
    toolbar.get_by_role("button", name="Members").click()
    expect(member_row.locator(".badge")).to_have_text("Accepted")
    member_row.get_by_role("button", name=f"Remove {member_key.account_id}").click()
    expect(page.locator("#notice")).to_have_text(f"Removed the member {member_key.account_id}.")
    expect(member_row).to_have_count(0)
    members = console_stack.request("GET", f"/v1/images/{image['id']}/members", owner_key).json()["members"]
    assert members == []


def test_a_member_rejects(
    open_console: Callable[..., Console], console_stack: Stack, make_qcow2: Any
) -> None:
    owner_key = console_stack.new_account("offerer")
    member_key = console_stack.new_account("refuser")
    image = publish(
        console_stack, make_qcow2("r.qcow2", "16M"), owner_key.account_id, "shared", name="offered"
    )
    added = console_stack.request(
        "POST", f"/v1/images/{image['id']}/members", owner_key, json={"member_id": member_key.account_id}
    )
    assert added.status_code == 200
    member = open_console()
    member.sign_in(member_key)
    member.open("#/pending")
    member.page.get_by_role("button", name="Reject offered").click()
    expect(member.page.locator("#notice")).to_have_text("Rejected offered.")
    path = f"/v1/images/{image['id']}/members/{member_key.account_id}"
    assert console_stack.request("GET", path, member_key).json()["status"] == "rejected"


def test_korean_ui_and_a_korean_api_error(console: Console, console_stack: Stack, make_qcow2: Any) -> None:
    key = console_stack.new_account("hangul")
    image = publish(console_stack, make_qcow2("k.qcow2", "16M"), key.account_id, "shared", name="korean-test")
    console.sign_in(key)
    page = console.page
    page.get_by_label("Language").focus()
    page.get_by_label("Language").select_option("ko-KR")
    expect(console.heading()).to_have_text("이미지")
    expect(page.get_by_role("link", name="이미지 생성")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_label("언어")).to_be_focused()  # switching the language keeps the keyboard's place
    console.axe("the Korean image list")
    open_image(console, image)
    expect(page.locator("#header-status .badge")).to_have_text("활성")
    missing = "0" * 32
    page.get_by_role("button", name="멤버", exact=True).click()
    dialog = page.get_by_role("dialog", name="korean-test의 멤버")
    member_field = dialog.get_by_label("멤버 계정 ID")
    member_field.fill(missing)
    dialog.get_by_role("button", name="멤버 추가").click()
    # the refusal is at the field it is about, in Korean, and named by the field's aria-describedby
    expect(member_field).to_have_attribute("aria-invalid", "true")
    error = dialog.locator(".field-error")
    expect(error).to_contain_text(f"계정 {missing}을(를) 찾을 수 없습니다.")
    described = member_field.get_attribute("aria-describedby") or ""
    assert error.get_attribute("id") in described.split()
    expect(console.error_box()).to_be_hidden()
    console.axe("the Korean detail page with an error")
    console.shot("image-detail-ko")
    api_calls = [r for r in console.requests if "/members" in r.url]
    assert api_calls and all(r.headers["accept-language"] == "ko-KR" for r in api_calls)
    page.reload()
    expect(page.get_by_role("link", name="이미지 생성")).to_be_visible()  # the choice is remembered
    page.get_by_label("언어").select_option("en-US")
    expect(page.get_by_role("link", name="Create image")).to_be_visible()


def test_keyboard_only_at_a_narrow_width(
    open_console: Callable[..., Console], console_stack: Stack, make_qcow2: Any
) -> None:
    key = console_stack.new_account("keys")
    image = publish(console_stack, make_qcow2("n.qcow2", "16M"), key.account_id, name="narrow-and-keyboard")
    console = open_console(viewport=NARROW)
    console.open()
    page = console.page
    access = page.get_by_label("Access key")
    for _ in range(12):
        if access.evaluate("e => e === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(access).to_be_focused()
    page.keyboard.type(key.access_key)
    page.keyboard.press("Tab")
    page.keyboard.type(key.secret_key)
    page.keyboard.press("Tab")
    page.keyboard.type(key.account_id)
    page.keyboard.press("Enter")
    expect(console.heading()).to_have_text("Images")
    console.no_horizontal_overflow()
    console.shot("images-narrow")

    link = page.get_by_role("link", name="narrow-and-keyboard")
    link.focus()
    page.keyboard.press("Enter")
    expect(console.heading()).to_have_text("narrow-and-keyboard")
    expect(console.heading()).to_be_focused()  # navigation moves focus to the new page's heading
    console.no_horizontal_overflow()
    console.axe("the detail page at a narrow width")
    delete = page.get_by_role("button", name="Delete image")
    delete.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert console_stack.request("GET", f"/v1/images/{image['id']}", key).status_code == 200
    page.get_by_role("link", name="Create image").focus()
    page.keyboard.press("Enter")
    expect(console.heading()).to_have_text("Create image")
    console.no_horizontal_overflow()


def test_hostile_image_names_are_shown_as_text(
    console: Console, console_stack: Stack, make_qcow2: Any
) -> None:
    key = console_stack.new_account("hostile")
    name = '<img src=x onerror="window.__xss=1">"><script>window.__xss=2</script>'
    image = publish(console_stack, make_qcow2("h.qcow2", "16M"), key.account_id, name=name)
    console.sign_in(key)
    expect(console.page.locator("#image-table tbody th")).to_have_text([name])
    open_image(console, image)
    console.page.get_by_role("button", name="Delete image").click()
    expect(console.page.get_by_role("dialog")).to_contain_text(f"“{name}”")
    console.page.keyboard.press("Escape")
    # the new views too: the overview, the Edit dialog's title
    expect(console.page.locator('#properties dd[data-field="name"]')).to_have_text(name)
    console.page.get_by_role("button", name="Edit", exact=True).click()
    expect(console.page.get_by_role("dialog").get_by_role("heading")).to_have_text(f"Edit {name}")
    assert console.page.locator("dialog img, dialog script").count() == 0
    console.page.keyboard.press("Escape")
    assert console.page.evaluate("window.__xss") is None
    assert console.page.locator("main img, main script").count() == 0
