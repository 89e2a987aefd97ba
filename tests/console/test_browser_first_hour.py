"""The console as a newcomer meets it (issue 18): the detail page's overview first, actions in a toolbar
and forms in dialogs that close on Back, a killed image that offers only Delete, a Create button, cards
at 390 px, errors at their field in words and in Korean, no operator setting name anywhere a tenant
looks, upload as the default without object storage, and where a key comes from."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from scp_images.config import Settings
from scp_images.http.routes.console import capabilities
from tests.api.helpers import publish
from tests.console.browser import Console, expect
from tests.console.images import killed_upload
from tests.support.stack import Stack, start_stack

PHONE = {"width": 390, "height": 844}
IEC = re.compile(r"^\d+(\.\d)? (B|KiB|MiB|GiB)$")


@pytest.fixture(scope="module")
def bare_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A server as installed by default: no object storage and no allowlisted import host."""
    running = start_stack(Settings(data_dir=tmp_path_factory.mktemp("bare") / "data"))
    yield running
    running.stop()


def toolbar_buttons(console: Console) -> list[str]:
    return console.page.locator("#toolbar button").all_inner_texts()


def before(console: Console, first: str, second: str) -> bool:
    """Whether the element `first` comes before `second` in the page."""
    return bool(
        console.page.evaluate(
            "([a, b]) => !!(document.querySelector(a).compareDocumentPosition(document.querySelector(b))"
            " & Node.DOCUMENT_POSITION_FOLLOWING)",
            [first, second],
        )
    )


def on_create_page(console: Console, stack: Stack, account: str) -> Any:
    """Signed in as a new account, on the create page once it is drawn; its page."""
    console.sign_in(stack.new_account(account))
    console.open("#/create")
    expect(console.heading()).to_have_text("Create image")
    return console.page


def visible_text(console: Console) -> str:
    return str(console.page.evaluate("document.body.innerText"))


def test_the_detail_page_opens_on_its_overview_with_a_toolbar(
    console: Console, console_stack: Stack, make_qcow2: Any
) -> None:
    key = console_stack.new_account("overview")
    image = publish(console_stack, make_qcow2("o.qcow2", "16M"), key.account_id, name="ubuntu-22_04")
    console.sign_in(key)
    console.open(f"#/images/{image['id']}")
    page = console.page
    expect(console.heading()).to_have_text("ubuntu-22_04")
    items = page.locator("#overview dt")
    expect(items).to_have_text(["Status", "Size", "Visibility", "OS", "Created"])
    overview = page.locator("#overview")
    expect(overview.locator('[data-item="status"] .badge')).to_have_text("Active")
    expect(overview.locator('[data-item="size"] dd')).to_have_text(IEC)
    expect(overview.locator('[data-item="visibility"] dd')).to_have_text("Private")
    expect(overview.locator('[data-item="os"] dd')).to_contain_text(image["os_distro"])
    expect(overview.locator('[data-item="created"] time')).to_have_attribute("datetime", image["created_at"])
    # the overview, then the toolbar, then the details; no form on the page itself
    assert before(console, "#overview", "#toolbar") and before(console, "#toolbar", "#properties")
    assert toolbar_buttons(console) == ["Share", "Edit", "Protect", "Download", "Delete image"]
    expect(page.locator("main form")).to_have_count(0)
    groups = page.locator("#properties .group h2")
    expect(groups).to_have_text(["General", "OS", "Data", "Sharing"])
    data = page.locator("#properties .group", has=page.get_by_role("heading", name="Data"))
    for name in ("size", "virtual_size", "checksum", "os_hash_value"):
        expect(data.locator(f'dd[data-field="{name}"]')).to_have_count(1)
    console.axe("the detail page's overview and toolbar")


def test_a_killed_image_offers_only_delete_and_says_why(console: Console, console_stack: Stack) -> None:
    key = console_stack.new_account("killedview")
    image = killed_upload(console_stack, key, "not-a-disk")
    reason = console_stack.request("GET", f"/v1/images/{image['id']}/import", key).json()["reason"]
    assert reason
    console.sign_in(key)
    console.open(f"#/images/{image['id']}")
    page = console.page
    expect(page.locator("#header-status .badge")).to_have_text("Killed")
    assert toolbar_buttons(console) == ["Delete image"]
    expect(page.locator("#failure-reason")).to_have_text(f"Why: {reason}")
    expect(page.locator("#failure")).to_contain_text("delete it, then create it again")
    assert before(console, "#failure", "#toolbar")
    page.get_by_role("button", name="Delete image").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete not-a-disk").click()
    expect(console.heading()).to_have_text("Images")
    assert console_stack.request("GET", f"/v1/images/{image['id']}", key).status_code == 404


def test_dialogs_close_when_the_browser_goes_back(
    console: Console, console_stack: Stack, make_qcow2: Any
) -> None:
    key = console_stack.new_account("backer")
    image = publish(console_stack, make_qcow2("b.qcow2", "16M"), key.account_id, "shared", name="go-back")
    console.sign_in(key)
    page = console.page
    page.get_by_role("link", name="go-back").click()
    expect(console.heading()).to_have_text("go-back")
    for button, title in (("Edit", "Edit go-back"), ("Members", "Members of go-back")):
        page.get_by_role("button", name=button, exact=True).click()
        expect(page.get_by_role("dialog", name=title)).to_be_visible()
        page.go_back()
        expect(console.heading()).to_have_text("Images")
        expect(page.locator("dialog")).to_have_count(0)
        page.go_forward()
        expect(console.heading()).to_have_text("go-back")
        expect(page.locator("dialog")).to_have_count(0)
    # a confirmation left by Back answers "no": nothing is deleted
    page.get_by_role("button", name="Delete image").click()
    expect(page.get_by_role("dialog", name="Delete image?")).to_be_visible()
    page.go_back()
    expect(page.locator("dialog")).to_have_count(0)
    assert console_stack.request("GET", f"/v1/images/{image['id']}", key).status_code == 200


def test_the_list_has_a_create_button_and_cards_on_a_phone(
    open_console: Callable[..., Console], console_stack: Stack, make_qcow2: Any
) -> None:
    key = console_stack.new_account("phone")
    names = ["a-thirty-character-image-name1", "ubuntu-22_04", "windows server 2022 datacenter"]
    for n, name in enumerate(names):
        publish(console_stack, make_qcow2(f"p{n}.qcow2", "16M"), key.account_id, name=name)
    killed_upload(console_stack, key, "broken-upload")
    console = open_console(viewport=PHONE)
    console.sign_in(key)
    page = console.page
    rows = page.locator("#image-table tbody tr")
    expect(rows).to_have_count(4)
    console.no_horizontal_overflow()
    for index in range(4):
        row = rows.nth(index)
        for part in (row.locator("th a"), row.locator(".badge")):
            expect(part).to_be_visible()
            box = part.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert page.locator("#image-table thead").evaluate("e => e.getBoundingClientRect().width") <= 1
    # each value says what it is (the header row is gone)
    label = rows.first.locator("td.num").first.evaluate("e => getComputedStyle(e, '::before').content")
    assert label == '"Size: "', label
    console.axe("the image list at 390 px")
    page.get_by_role("button", name="Create image").click()
    expect(console.heading()).to_have_text("Create image")
    console.no_horizontal_overflow()


def test_errors_are_at_their_field_in_words_and_in_korean(console: Console, console_stack: Stack) -> None:
    page = on_create_page(console, console_stack, "fields")
    name = page.get_by_label("Name", exact=True)
    name.fill("ubuntu/22.04")
    page.get_by_role("button", name="Create image").click()
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_be_focused()
    error = page.locator(f"#{name.get_attribute('id')}-error")
    expect(error).to_have_text(re.compile(r"letters .*digits .*spaces, hyphens \(-\) and underscores \(_\)"))
    assert error.get_attribute("id") in (name.get_attribute("aria-describedby") or "").split()
    expect(console.error_box()).to_be_hidden()
    expect(page.locator("main")).not_to_contain_text("^[")
    console.axe("a create form with a field error")
    assert not [r for r in console.requests if r.method == "POST"]  # refused before anything was sent

    page.get_by_label("Language").select_option("ko-KR")
    expect(console.heading()).to_have_text("이미지 생성")
    name = page.get_by_label("이름", exact=True)
    name.fill("ubuntu/22.04")
    page.get_by_role("button", name="이미지 생성").click()
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#{name.get_attribute('id')}-error")).to_contain_text("영문자")
    name.fill("ubuntu-22_04")
    expect_no_setting_names_for_urls(
        console, "오브젝트 스토리지에서(URL)", "오브젝트 스토리지 URL", "이미지 생성"
    )


def expect_no_setting_names_for_urls(console: Console, option: str, label: str, submit: str) -> None:
    """Object-storage and unlisted-host URLs on a server without S3: refused at the URL field, in the
    page's language, and no operator setting name anywhere on the page."""
    page = console.page
    page.get_by_label(option).check()
    url = page.get_by_label(label, exact=True)
    for address in ("s3://images/disk.qcow2", "https://mirror.example/disk.qcow2"):
        url.fill(address)
        page.get_by_role("button", name=submit).click()
        expect(url).to_have_attribute("aria-invalid", "true")
        error = page.locator(f"#{url.get_attribute('id')}-error")
        expect(error).to_be_visible()
        assert re.search(r"[가-힣]", error.inner_text()), error.inner_text()
        assert "SCP_IMAGES_" not in visible_text(console)
        expect(console.error_box()).to_be_hidden()


def test_no_setting_name_reaches_a_tenant_in_english(console: Console, console_stack: Stack) -> None:
    page = on_create_page(console, console_stack, "nosettings")
    page.get_by_label("Name", exact=True).fill("from-s3")
    page.get_by_label("From object storage (URL)").check()
    url = page.get_by_label("Object storage URL", exact=True)
    url.fill("s3://images/disk.qcow2")
    page.get_by_role("button", name="Create image").click()
    error = page.locator(f"#{url.get_attribute('id')}-error")
    # the server's refusal (or the console's own words for it) with the next step, at the field
    expect(error).to_have_text(re.compile(r"Upload the file instead"))
    assert "SCP_IMAGES_" not in visible_text(console)
    # an import's recorded failure reason gets the same treatment wherever the page shows one
    shown = page.evaluate(
        """async () => (await import('/console/js/errors.js')).tenantReason(
             'no object storage is configured: set SCP_IMAGES_S3_ENDPOINT_URL')"""
    )
    assert "SCP_IMAGES_" not in shown and "ask your operator" in shown.lower()


def test_upload_is_the_default_without_object_storage(
    open_console: Callable[..., Console], console_stack: Stack, bare_stack: Stack
) -> None:
    # the test server has no S3 but allowlists a mirror: upload first, URLs still offered with a caveat
    console = open_console()
    page = on_create_page(console, console_stack, "defaults")
    expect(page.get_by_label("Upload a local disk file")).to_be_checked()
    expect(page.get_by_label("Disk file", exact=True)).to_be_visible()
    expect(page.get_by_label("Object storage URL", exact=True)).to_be_hidden()
    url_option = page.get_by_label("From object storage (URL)")
    expect(url_option).to_be_enabled()
    expect(page.locator("#source-url-note")).to_have_text(re.compile("no object storage"))
    console.axe("the create page without object storage")

    # a server with neither: the URL option is off, and one line says why
    bare = open_console()
    bare.base_url = bare_stack.base_url
    on_create_page(bare, bare_stack, "bare")
    expect(bare.page.get_by_label("Upload a local disk file")).to_be_checked()
    expect(bare.page.get_by_label("From object storage (URL)")).to_be_disabled()
    expect(bare.page.locator("#source-url-note")).to_have_text(
        "This service has no object storage; upload a file."
    )


def test_the_server_says_what_the_create_form_may_offer(console_stack: Stack, bare_stack: Stack) -> None:
    assert bare_stack.http.get(f"{bare_stack.base_url}/console/config.json").json() == {
        "object_storage": False,
        "url_imports": False,
    }
    got = console_stack.http.get(f"{console_stack.base_url}/console/config.json")
    assert got.status_code == 200 and got.headers["content-security-policy"]
    assert got.json() == {"object_storage": False, "url_imports": True}
    s3 = Settings(s3_endpoint_url="http://s3.test:8333", s3_access_key_id="a", s3_secret_access_key="b")
    assert capabilities(s3) == {"object_storage": True, "url_imports": True}
    half = Settings(s3_endpoint_url="http://s3.test:8333")
    assert capabilities(half) == {"object_storage": False, "url_imports": False}


def test_the_sign_in_page_says_where_keys_come_from(console: Console) -> None:
    console.open()
    help_box = console.page.locator("#signin-help")
    expect(help_box).to_contain_text("Your operator gives you an access key")
    expect(help_box.locator("code")).to_have_text(
        ["scp-images serve", re.compile(r"^scp-images admin key create --account \S+ --user \S+$")]
    )
    expect(help_box).to_contain_text("printed a demo key on its first start")
    console.page.get_by_label("Language").select_option("ko-KR")
    expect(help_box).to_contain_text("운영자가 액세스 키")
    expect(help_box.locator("code").first).to_have_text("scp-images serve")
