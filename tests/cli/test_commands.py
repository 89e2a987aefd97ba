"""Every ``image`` command in-process (Typer's CliRunner) against the live server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from scp_images.client import BadRequestError, Client
from tests.cli.conftest import Invoke, json_of, make_invoker
from tests.support.stack import Key, Stack


def _sdk(stack: Stack, key: Key) -> Client:
    return stack.client(key)


def test_usage_errors_exit_2_and_send_nothing(
    stack: Stack, owner: Key, invoke: Invoke, tmp_path: Path
) -> None:
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(b"x")
    url = "https://h/x.qcow2"
    both = invoke(owner, "create", "--name", "n", "--os-distro", "ubuntu", "--url", url, "--file", str(disk))
    assert both.exit_code == 2 and "exactly one of --url and --file" in both.stderr
    assert invoke(owner, "create", "--os-distro", "ubuntu", "--url", url).exit_code == 2
    assert (
        invoke(owner, "create", "--name", "n", "--os-distro", "u", "--file", str(tmp_path / "no")).exit_code
        == 2
    )
    assert (
        invoke(
            owner, "create", "--name", "n", "--os-distro", "u", "--url", url, "--visibility", "x"
        ).exit_code
        == 2
    )
    assert invoke(owner, "list", "--limit", "0").exit_code == 2
    assert invoke(owner, "list", "--visibility", "everyone").exit_code == 2
    nothing = invoke(owner, "update", str(uuid.uuid4()))
    assert nothing.exit_code == 2 and "nothing to change" in nothing.stderr
    assert invoke(owner, "member", "frobnicate").exit_code == 2
    with _sdk(stack, owner) as sdk:
        assert sdk.images.list() == []  # nothing was created


def test_list_pages_with_limit_marker_and_all(stack: Stack, owner: Key, invoke: Invoke) -> None:
    with _sdk(stack, owner) as sdk:
        ids = {sdk.images.create(f"img-{i}", "ubuntu").id for i in range(3)}

    page = invoke(owner, "list", "--limit", "2", "--sort", "name:asc", "--json")
    assert [i["name"] for i in json_of(page)["images"]] == ["img-0", "img-1"]
    last = json_of(page)["images"][-1]["id"]
    assert f"--marker {last}" in page.stderr
    rest = json_of(invoke(owner, "list", "--limit", "2", "--sort", "name:asc", "--marker", last, "--json"))
    assert [i["name"] for i in rest["images"]] == ["img-2"]
    every = json_of(invoke(owner, "list", "--all", "--limit", "2", "--json"))
    assert {i["id"] for i in every["images"]} == ids
    assert json_of(invoke(owner, "list", "--name", "img-1", "--status", "queued", "--json"))["images"][0][
        "name"
    ] == ("img-1")
    table = invoke(owner, "list", "--sort", "name:asc")
    assert table.exit_code == 0 and len(table.stdout.splitlines()) == 1 + 3  # the header and a row each
    assert all(image_id in table.stdout for image_id in ids)  # ids never wrap, whatever the width


def test_update_and_delete(stack: Stack, owner: Key, invoke: Invoke) -> None:
    with _sdk(stack, owner) as sdk:
        image = sdk.images.create("to-change", "ubuntu")

    changes = ["--min-disk", "5", "--protected", "--visibility", "shared"]
    changed = json_of(invoke(owner, "update", image.id, *changes, "--json"))
    assert (changed["min_disk"], changed["protected"], changed["visibility"]) == (5, True, "shared")
    refused = invoke(owner, "delete", image.id)
    assert refused.exit_code == 1 and "409 virtualserver.image.Protected" in refused.stderr
    assert invoke(owner, "update", image.id).exit_code == 2
    assert json_of(invoke(owner, "update", image.id, "--no-protected", "--json"))["protected"] is False
    table = invoke(owner, "update", image.id, "--min-ram", "2")
    assert table.exit_code == 0 and "min_ram" in table.stdout

    deleted = invoke(owner, "delete", image.id)
    assert deleted.exit_code == 0 and f"image {image.id} deleted" in deleted.stdout
    assert invoke(owner, "show", image.id).exit_code == 1


def test_create_from_file_with_wait_then_download(
    owner: Key, invoke: Invoke, small_qcow2: Path, tmp_path: Path
) -> None:
    args = ["--name", "cli", "--os-distro", "ubuntu", "--file", str(small_qcow2), "--visibility", "shared"]
    created = json_of(invoke(owner, "create", *args, "--wait", "--json"))
    assert created["status"] == "active" and created["visibility"] == "shared"

    target = tmp_path / "copy.qcow2"
    saved = invoke(owner, "download", created["id"], "-o", str(target))
    assert saved.exit_code == 0, saved.stderr
    assert target.read_bytes() == small_qcow2.read_bytes()
    assert "saved" in saved.stdout
    missing_dir = invoke(owner, "download", created["id"], "-o", str(tmp_path / "no" / "such.qcow2"))
    assert missing_dir.exit_code == 2

    status = json_of(invoke(owner, "import-status", created["id"], "--json"))
    assert status["status"] == "succeeded" and status["bytes_read"] == small_qcow2.stat().st_size
    assert "succeeded" in invoke(owner, "import-status", created["id"]).stdout
    waited = json_of(invoke(owner, "wait", created["id"], "--json"))
    assert waited["id"] == created["id"]


def test_wait_exits_1_for_a_killed_image_and_on_timeout(
    stack: Stack, owner: Key, invoke: Invoke, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.qcow2"
    bad.write_bytes(b"not a qcow2" * 1000)
    with _sdk(stack, owner) as sdk:
        killed = sdk.images.create("bad", "ubuntu")
        queued = sdk.images.create("queued", "ubuntu")
    refused = invoke(owner, "create", "--name", "bad2", "--os-distro", "ubuntu", "--file", str(bad))
    assert refused.exit_code == 1 and "400 virtualserver.image.DiskImageRejected" in refused.stderr
    assert "not_qcow2" in refused.stderr
    assert "was removed: its upload was refused" in " ".join(refused.stderr.split())
    with _sdk(stack, owner) as sdk, pytest.raises(BadRequestError):
        sdk.images.upload(killed.id, bad)

    result = invoke(owner, "wait", killed.id, "--timeout", "5", "--interval", "0.1")
    assert result.exit_code == 1
    assert "was killed" in result.stderr and "qcow2" in result.stderr.lower()
    timeout = invoke(owner, "wait", queued.id, "--timeout", "0.2", "--interval", "0.05")
    assert timeout.exit_code == 1 and "still queued" in timeout.stderr


def test_import_errors_are_api_errors(stack: Stack, owner: Key, invoke: Invoke) -> None:
    with _sdk(stack, owner) as sdk:
        image = sdk.images.create("to-import", "ubuntu")
    bad_url = invoke(owner, "import", image.id, "--url", "https://example.com/disk.raw")
    assert bad_url.exit_code == 1 and "400" in bad_url.stderr
    no_record = invoke(owner, "import-status", image.id)
    assert no_record.exit_code == 1 and "404 virtualserver.image.ImportNotFound" in no_record.stderr
    assert invoke(owner, "import", str(uuid.uuid4()), "--url", "https://example.com/d.qcow2").exit_code == 1


def test_share_and_members_between_two_accounts(
    stack: Stack, owner: Key, invoke: Invoke, small_qcow2: Path
) -> None:
    other = stack.new_account("other")
    with _sdk(stack, owner) as sdk:
        image = sdk.images.create_from_file(small_qcow2, "to-share", "ubuntu")

    shared = invoke(owner, "share", image.id)
    assert shared.exit_code == 0 and "shared" in shared.stdout
    added = json_of(invoke(owner, "member", "add", image.id, other.account_id, "--json"))
    assert added["status"] == "pending" and added["member_id"] == other.account_id
    pending = json_of(invoke(other, "pending", "--json"))
    assert [i["id"] for i in pending["images"]] == [image.id]
    assert [row.split()[1] for row in invoke(other, "pending").stdout.splitlines()[1:]] == ["to-share"]

    answered_by_owner = invoke(owner, "member", "accept", image.id, other.account_id)
    assert answered_by_owner.exit_code == 1 and "403" in answered_by_owner.stderr
    accepted = json_of(invoke(other, "member", "accept", image.id, "--json"))  # its own id is found
    assert accepted["status"] == "accepted"
    assert json_of(invoke(other, "pending", "--json")) == {"images": []}
    assert image.id in {i["id"] for i in json_of(invoke(other, "list", "--json"))["images"]}
    listed = json_of(invoke(owner, "member", "list", image.id, "--json"))
    assert [(m["member_id"], m["status"]) for m in listed["members"]] == [(other.account_id, "accepted")]
    assert other.account_id in invoke(owner, "member", "list", image.id).stdout
    shown = json_of(invoke(other, "member", "show", image.id, other.account_id, "--json"))
    assert shown["status"] == "accepted"
    rejected = json_of(invoke(other, "member", "reject", image.id, other.account_id, "--json"))
    assert rejected["status"] == "rejected"

    removed = invoke(owner, "member", "remove", image.id, other.account_id)
    assert removed.exit_code == 0 and "removed" in removed.stdout
    gone = invoke(other, "show", image.id)
    assert gone.exit_code == 1 and "404" in gone.stderr
    assert invoke(owner, "member", "accept", image.id).exit_code == 2  # no member left to answer for


def test_create_from_url_with_wait_and_import_then_wait(
    s3_stack: Stack, s3_bucket: Any, make_qcow2: Callable[..., Path], home: Path
) -> None:
    path = make_qcow2("disk.qcow2", "32M")
    s3_bucket.put("disk.qcow2", path)
    url = f"s3://{s3_bucket.name}/disk.qcow2"
    key = s3_stack.new_account("importer")
    s3_stack.grant(key, s3_bucket.name)
    invoke = partial(make_invoker(s3_stack, home), key)

    args = ["--name", "from-url", "--os-distro", "rocky", "--url", url]
    created = json_of(invoke("create", *args, "--wait", "--json"))
    assert created["status"] == "active" and created["url"] == url

    with s3_stack.client(key) as sdk:
        queued = sdk.images.create("import-later", "ubuntu")
    started = invoke("import", queued.id, "--url", url)
    assert started.exit_code == 0 and "import of image" in started.stdout
    waited = json_of(invoke("wait", queued.id, "--timeout", "60", "--interval", "0.05", "--json"))
    assert waited["checksum"] == created["checksum"]
    assert json_of(invoke("import-status", queued.id, "--json"))["url"] == url


def test_sources_lists_the_accounts_grants_and_a_refused_url_exits_1(s3_stack: Stack, home: Path) -> None:
    key, other = s3_stack.new_account("importer"), s3_stack.new_account("other")
    s3_stack.grant(key, "team-bucket", "images/")
    s3_stack.grant(key, "shared-bucket")
    s3_stack.grant(other, "other-bucket")
    invoke = partial(make_invoker(s3_stack, home), key)
    assert json_of(invoke("sources", "--json")) == {
        "import_sources": [
            {"account_id": key.account_id, "bucket": "shared-bucket", "prefix": ""},
            {"account_id": key.account_id, "bucket": "team-bucket", "prefix": "images"},
        ]
    }
    table = invoke("sources")
    assert table.exit_code == 0 and len(table.stdout.splitlines()) == 1 + 2
    assert "team-bucket" in table.stdout and "other-bucket" not in table.stdout
    refused = invoke("create", "--name", "n", "--os-distro", "ubuntu", "--url", "s3://other-bucket/x.qcow2")
    assert refused.exit_code == 1
    assert "403 virtualserver.image.ImportSourceForbidden" in refused.stderr
