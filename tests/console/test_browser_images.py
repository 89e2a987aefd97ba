"""The console in a real browser (Debian's chromium): signing in, the image list, uploads, downloads and
imports, against the live server."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scp_images.domain.image import ImageSpec, Visibility
from scp_images.http.schemas import IMAGE_FIELDS_1_2
from scp_images.signing import compute_signature
from tests.api.helpers import publish
from tests.console.browser import INSECURE_HOST, Console, expect
from tests.console.sources import GatedSource
from tests.support.stack import Key, Stack


def principal(stack: Stack, key: Key) -> Any:
    return stack.components.accounts.list_keys(key.account_id)[0].principal()


def queued(stack: Stack, key: Key, name: str) -> str:
    new = ImageSpec(name=name, os_distro="ubuntu", url=None, visibility=Visibility.PRIVATE)
    return stack.components.images.create(principal(stack, key), new).id


def rows(console: Console) -> Any:
    return console.page.locator("#image-table tbody tr")


def expect_names(console: Console, names: list[str]) -> None:
    expect(console.page.locator("#image-table tbody th")).to_have_text(names)


def apply_filters(console: Console, **choices: str) -> None:
    form = console.page.get_by_role("search")
    for label, value in choices.items():
        control = form.get_by_label(label.replace("_", " "), exact=True)
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    form.get_by_role("button", name="Apply").click()


def test_sign_in_then_list_filter_sort_and_page(
    console: Console, console_stack: Stack, make_qcow2: Any
) -> None:
    key = console_stack.new_account("lister")
    other = console_stack.new_account("other")
    publish(console_stack, make_qcow2("a.qcow2", "16M"), key.account_id, name="alpha")
    publish(console_stack, make_qcow2("b.qcow2", "32M"), key.account_id, "shared", name="beta")
    publish(console_stack, make_qcow2("g.qcow2", "16M"), key.account_id, name="gamma")
    publish(console_stack, make_qcow2("o.qcow2", "16M"), other.account_id, name="not-mine")
    for n in range(9):
        queued(console_stack, key, f"waiting-{n}")

    console.open()
    expect(console.heading()).to_have_text("Sign in")
    console.axe("the sign-in page")
    console.shot("sign-in")
    console.sign_in(key)
    expect(rows(console)).to_have_count(12)  # 20 a page by default
    page = console.page

    apply_filters(console, Per_page="10")
    expect(rows(console)).to_have_count(10)
    expect(page.get_by_text("Page 1", exact=True)).to_be_visible()
    page.get_by_role("button", name="Next page").click()
    expect(rows(console)).to_have_count(2)
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    page.get_by_role("button", name="Previous page").click()
    expect(rows(console)).to_have_count(10)

    apply_filters(console, Status="active", Sort="name:asc", Per_page="20")
    expect_names(console, ["alpha", "beta", "gamma"])
    # sizes in human units, status as a badge with text
    first = rows(console).first
    expect(first.locator(".badge")).to_have_text("Active")
    expect(first.locator("td.num").first).to_have_text(re.compile(r"^\d+(\.\d)? (KiB|MiB)$"))
    console.axe("the image list")
    console.shot("images")

    apply_filters(console, Sort="name:desc")
    expect_names(console, ["gamma", "beta", "alpha"])
    apply_filters(console, Name="bet")
    expect_names(console, [])
    apply_filters(console, Name="beta")
    expect_names(console, ["beta"])
    apply_filters(console, Name="", Visibility="shared")
    expect_names(console, ["beta"])
    apply_filters(console, Visibility="", Status="killed")
    expect(page.get_by_text("No images match.")).to_be_visible()


def test_the_secret_is_never_sent_and_sign_out_clears_it(console: Console, console_stack: Stack) -> None:
    key = console_stack.new_account("secretive")
    console.sign_in(key)
    page = console.page
    page.get_by_role("link", name="Pending images").click()
    expect(console.heading()).to_have_text("Pending images")
    assert page.evaluate("sessionStorage.length") == 1
    secret = key.secret_key
    for sent in console.requests:
        leaked = secret in sent.url or secret in sent.body or any(secret in v for v in sent.headers.values())
        assert not leaked, f"the secret key was sent in {sent.method} {sent.url}"
    signed = [r for r in console.requests if "/v1/" in r.url]
    assert len(signed) >= 2 and all(r.headers.get("scp-signature") for r in signed)
    assert all(r.headers.get("scp-accountid") == key.account_id for r in signed)

    page.get_by_role("button", name="Sign out").click()
    expect(console.heading()).to_have_text("Sign in")
    expect(page.get_by_text("Signed out.", exact=False)).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    page.reload()
    expect(console.heading()).to_have_text("Sign in")
    expect(page.get_by_label("Secret key")).to_have_value("")


def test_wrong_keys_show_the_api_error_and_keep_nothing(console: Console, console_stack: Stack) -> None:
    key = console_stack.new_account("wrong")
    console.open()
    page = console.page
    page.get_by_label("Access key").fill(key.access_key)
    page.get_by_label("Secret key").fill(key.secret_key + "x")
    page.get_by_label("Account ID").fill(key.account_id)
    page.get_by_role("button", name="Sign in").click()
    box = console.error_box()
    expect(box.locator(".error-code")).to_have_text("virtualserver.auth.Unauthenticated")
    expect(box.locator(".error-detail")).to_contain_text("the access key or the signature is not valid")
    expect(box.locator(".error-request-id")).to_have_text(re.compile(r"^req-[0-9a-f]{32}$"))
    page.get_by_label("Secret key").fill(key.secret_key)
    page.get_by_label("Account ID").fill("0" * 32)
    page.get_by_role("button", name="Sign in").click()
    expect(box.locator(".error-code")).to_have_text("virtualserver.auth.AccountMismatch")
    assert page.evaluate("sessionStorage.length") == 0
    expect(console.heading()).to_have_text("Sign in")


def test_the_browser_signs_like_the_python_signer(console: Console) -> None:
    console.open()
    cases = [
        (
            "GET",
            "http://127.0.0.1:8080/v1/images?limit=5&sort=created_at%3Adesc",
            "17000",
            "AK1",
            "s3/+=",
            "",
        ),
        ("put", "https://h.example/v1/images/x?name=my+image", "1", "AK", "비밀-키", "a" * 32),
        ("DELETE", "http://localhost:1/v1/images/7f/members/9", "42", "", "k", "acct"),
    ]
    for method, url, ts, ak, sk, acct in cases:
        browser = console.page.evaluate(
            """async ([m, u, ts, ak, sk, acct]) => {
                 const s = await import('/console/js/signing.js');
                 return s.computeSignature(m, u, ts, ak, sk, acct);
               }""",
            [method, url, ts, ak, sk, acct],
        )
        assert browser == compute_signature(method, url, ts, ak, sk, acct)


def test_upload_with_progress_then_detail_and_download(
    console: Console, console_stack: Stack, qcow2_with_data: Callable[[str, int], Path]
) -> None:
    key = console_stack.new_account("uploader")
    disk = qcow2_with_data("upload.qcow2", 6)
    console.sign_in(key)
    page = console.page
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    # ~3 MiB/s: the upload takes about two seconds, long enough for real progress events
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 3 * 1024 * 1024},
    )
    page.get_by_role("link", name="Create image").click()
    expect(console.heading()).to_have_text("Create image")
    console.axe("the create page")
    page.get_by_label("Upload a local disk file").check()
    page.get_by_label("Name", exact=True).fill("uploaded disk")
    page.get_by_label("Disk file", exact=True).set_input_files(str(disk))
    page.get_by_role("button", name="Create image").click()
    expect(page.locator("#upload-progress-bar")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel upload")).to_be_focused()
    expect(console.heading()).to_have_text("uploaded disk", timeout=60_000)
    expect(page.locator("#header-status .badge")).to_have_text("Active", timeout=30_000)
    progress = page.evaluate("window.__progress")
    between = sorted({p for p in progress if 0 < p < 100})
    assert len(between) >= 2, f"no real progress was shown: {progress}"
    assert progress == sorted(progress) and progress[-1] == 100

    image_id = page.url.rsplit("/", 1)[1]
    api = console_stack.request("GET", f"/v1/images/{image_id}", key).json()
    # every field of Show Image 1.3, each shown once
    shown = page.locator("#properties dt").evaluate_all("els => els.map(e => e.dataset.field)")
    assert sorted(shown) == sorted(IMAGE_FIELDS_1_2) == sorted(api)
    size = page.locator('#properties dd[data-field="size"]')
    expect(size).to_contain_text(f"({api['size']:,} B)")
    expect(size).to_contain_text("MiB")
    expect(page.locator('#properties dd[data-field="checksum"]')).to_have_text(api["checksum"])
    console.axe("the image detail")
    console.shot("image-detail")

    with page.expect_download() as started:
        page.get_by_role("button", name="Download").click()
    download = started.value
    assert download.suggested_filename == "uploaded disk.qcow2"  # from filename*
    saved = Path(download.path())
    assert hashlib.sha512(saved.read_bytes()).hexdigest() == api["os_hash_value"]
    expect(page.get_by_text("The download of uploaded disk has started", exact=False)).to_be_visible()
    # the browser itself fetched the file (a download navigation); the page's script never touched it
    assert download.url.startswith(f"{console_stack.base_url}/v1/images/{image_id}/download?link=")
    assert not [r for r in console.requests if "/download?link=" in r.url]


def test_upload_can_be_cancelled(
    console: Console, console_stack: Stack, qcow2_with_data: Callable[[str, int], Path]
) -> None:
    key = console_stack.new_account("canceller")
    disk = qcow2_with_data("slow.qcow2", 4)
    console.sign_in(key)
    page = console.page
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 256 * 1024},
    )
    console.open("#/create")
    expect(console.heading()).to_have_text("Create image")
    page.get_by_label("Upload a local disk file").check()
    page.get_by_label("Name", exact=True).fill("never finished")
    page.get_by_label("Disk file", exact=True).set_input_files(str(disk))
    page.get_by_role("button", name="Create image").click()
    expect(page.locator("#upload-progress .progress-text")).to_contain_text("%")
    page.get_by_role("button", name="Cancel upload").click()
    expect(page.get_by_text("The upload was cancelled", exact=False)).to_be_visible()
    listed = console_stack.request("GET", "/v1/images", key).json()["images"]
    assert [i["name"] for i in listed] == []


def test_import_from_a_url_is_followed_live_until_active(
    console: Console, console_stack: Stack, source: GatedSource, qcow2_with_data: Callable[[str, int], Path]
) -> None:
    key = console_stack.new_account("importer")
    data = qcow2_with_data("gated.qcow2", 6).read_bytes()
    url = source.add(f"{key.account_id}/gated.qcow2", data, gated_at=len(data) // 2)
    console.sign_in(key)
    page = console.page
    console.open("#/create")
    expect(console.heading()).to_have_text("Create image")
    page.get_by_label("Name", exact=True).fill("from the mirror")
    page.get_by_label("From object storage (URL)").check()  # upload is the default without S3
    page.get_by_label("Object storage URL").fill(url)
    page.get_by_role("button", name="Create image").click()
    expect(console.heading()).to_have_text("from the mirror")
    expect(page.get_by_text("Following the image", exact=False)).to_be_visible()
    # the list shows the import's progress while the source holds back the second half
    page.get_by_role("link", name="Images", exact=True).click()
    row = page.locator("#image-table tbody tr", has_text="from the mirror")
    expect(row.locator(".badge")).to_have_text("Importing")
    expect(row.locator(".progress-text")).to_have_text(re.compile(r"of .*\((?:[1-9]|[1-9]\d)%\)"))
    value = row.locator("progress").get_attribute("value")
    assert value is not None and 0 < int(value) < 100
    source.release(f"{key.account_id}/gated.qcow2")
    expect(row.locator(".badge")).to_have_text("Active", timeout=30_000)
    expect(row.locator("progress")).to_have_count(0)


def test_import_that_ends_killed_shows_its_reason(
    console: Console, console_stack: Stack, source: GatedSource
) -> None:
    key = console_stack.new_account("killed")
    url = source.add(f"{key.account_id}/garbage.qcow2", b"this is not a disk image\n" * 4000)
    console.sign_in(key)
    page = console.page
    console.open("#/create")
    expect(console.heading()).to_have_text("Create image")
    page.get_by_label("Name", exact=True).fill("garbage in")
    page.get_by_label("From object storage (URL)").check()  # upload is the default without S3
    page.get_by_label("Object storage URL").fill(url)
    page.get_by_role("button", name="Create image").click()
    expect(console.heading()).to_have_text("garbage in")
    expect(page.locator("#header-status .badge")).to_have_text("Killed", timeout=30_000)
    image_id = page.url.rsplit("/", 1)[1]
    reason = console_stack.request("GET", f"/v1/images/{image_id}/import", key).json()["reason"]
    assert reason
    expect(page.locator("#import-reason")).to_have_text(reason)
    console.axe("a killed image")


def test_the_detail_page_follows_an_import_until_it_is_killed(
    console: Console, console_stack: Stack, source: GatedSource, qcow2_with_data: Callable[[str, int], Path]
) -> None:
    key = console_stack.new_account("followed")
    data = qcow2_with_data("cut.qcow2", 4).read_bytes()
    name = f"{key.account_id}/cut.qcow2"
    url = source.add(name, data, gated_at=len(data) // 2)
    console.sign_in(key)
    page = console.page
    console.open("#/create")
    expect(console.heading()).to_have_text("Create image")
    page.get_by_label("Name", exact=True).fill("cut short")
    page.get_by_label("From object storage (URL)").check()  # upload is the default without S3
    page.get_by_label("Object storage URL").fill(url)
    page.get_by_role("button", name="Create image").click()
    expect(page.get_by_text("Following the image", exact=False)).to_be_visible()
    expect(page.locator("#header-status .badge")).to_have_text("Importing")
    expect(page.locator("#import .progress-text")).to_contain_text("%")
    source.cut(name)  # the source hangs up half-way
    expect(page.locator("#header-status .badge")).to_have_text("Killed", timeout=30_000)
    image_id = page.url.rsplit("/", 1)[1]
    reason = console_stack.request("GET", f"/v1/images/{image_id}/import", key).json()["reason"]
    assert reason
    expect(page.locator("#notice")).to_have_text(f"The image cut short was killed: {reason}")
    expect(page.locator("#import-reason")).to_have_text(reason)
    expect(page.get_by_text("Following the image", exact=False)).to_have_count(0)


def test_insecure_origin_says_so(console: Console, console_stack: Stack) -> None:
    port = console_stack.base_url.rsplit(":", 1)[1]
    console.page.goto(f"http://{INSECURE_HOST}:{port}/console")
    expect(console.heading()).to_have_text("This page needs HTTPS")
    expect(console.page.locator("#insecure")).to_contain_text("HTTPS")
    expect(console.page.get_by_label("Secret key")).to_have_count(0)
    console.axe("the insecure-origin page")
