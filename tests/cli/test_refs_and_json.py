"""An image named by id, exact name or unique id prefix; ``--json`` on every command, lists as objects."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scp_images.cli import admin
from scp_images.domain import image as image_module
from tests.api.helpers import publish
from tests.cli.conftest import Invoke, json_of
from tests.support.stack import Key, Stack

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the CLI, not storage


@pytest.fixture
def chosen_ids(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The ids the (in-process) server gives its next images, in order: prefixes shared on purpose."""
    wanted: list[str] = []
    monkeypatch.setattr(image_module, "new_image_id", lambda: wanted.pop(0))
    yield wanted


def test_an_image_is_found_by_id_name_or_unique_prefix(
    stack: Stack, owner: Key, invoke: Invoke, make_qcow2: Callable[..., Path], chosen_ids: list[str]
) -> None:
    disk = make_qcow2("r.qcow2", "1M", data=False)
    chosen_ids += [
        "abcdef01-1111-4111-8111-111111111111",
        "abcdef01-2222-4222-8222-222222222222",
        "12345678-3333-4333-8333-333333333333",
        "87654321-4444-4444-8444-444444444444",
    ]
    for name in ("first", "second", "twin", "twin"):
        publish(stack, disk, owner.account_id, name=name)

    def shown_id(ref: str) -> str:
        return str(json_of(invoke(owner, "show", ref, "--json"))["id"])

    assert shown_id("abcdef01-1111-4111-8111-111111111111") == "abcdef01-1111-4111-8111-111111111111"
    assert shown_id("ABCDEF01-2222-4222-8222-222222222222") == "abcdef01-2222-4222-8222-222222222222"
    assert shown_id("first") == "abcdef01-1111-4111-8111-111111111111"  # by exact name
    assert shown_id("12345678") == "12345678-3333-4333-8333-333333333333"  # a unique 8-character prefix
    assert shown_id("abcdef01-2") == "abcdef01-2222-4222-8222-222222222222"

    twins = invoke(owner, "show", "twin")  # an ambiguous name: the candidates, short id and name
    assert twins.exit_code == 2 and "2 images are named 'twin'" in twins.stderr
    assert {line.split()[0] for line in twins.stderr.splitlines()[2:]} >= {
        "12345678-3333-4333-8333-333333333333",
        "87654321-4444-4444-8444-444444444444",
    }  # piped: whole ids
    assert twins.stdout == ""
    prefix = invoke(owner, "delete", "abcdef01")  # an ambiguous prefix deletes nothing
    assert prefix.exit_code == 2 and "2 image ids start with 'abcdef01'" in prefix.stderr
    for missing in ("no-such-image", "1234567", "fedcba98"):  # a 7-character prefix is too short
        result = invoke(owner, "show", missing)
        assert result.exit_code == 1 and "scp-images image list" in result.stderr, result.stderr
    assert "at least 8 characters" in invoke(owner, "show", "1234567").stderr
    with stack.client(owner) as sdk:
        assert len(sdk.images.list()) == 4  # nothing was deleted on the way

    # every command that takes an image resolves it the same way
    assert json_of(invoke(owner, "update", "second", "--min-disk", "3", "--json"))["min_disk"] == 3
    assert json_of(invoke(owner, "import-status", "second", "--json"))["image_id"].startswith("abcdef01-2")
    assert json_of(invoke(owner, "delete", "87654321", "--json")) == {
        "deleted": True,
        "id": "87654321-4444-4444-8444-444444444444",
    }


def test_actions_print_json_objects_and_lists_are_objects(
    stack: Stack, owner: Key, invoke: Invoke, make_qcow2: Callable[..., Path], tmp_path: Path
) -> None:
    other = stack.new_account("other")
    disk = make_qcow2("j.qcow2", "1M", data=False)
    image_id = str(publish(stack, disk, owner.account_id, name="to-share")["id"])

    assert json_of(invoke(owner, "share", "to-share", "--json")) == {"id": image_id, "visibility": "shared"}
    added = json_of(invoke(owner, "member", "add", image_id[:8], other.account_id, "--json"))
    assert added["member_id"] == other.account_id
    assert [i["id"] for i in json_of(invoke(other, "pending", "--json"))["images"]] == [image_id]
    members = json_of(invoke(owner, "member", "list", "to-share", "--json"))
    assert [m["member_id"] for m in members["members"]] == [other.account_id]
    assert json_of(invoke(other, "member", "accept", "to-share", "--json"))["status"] == "accepted"
    saved = json_of(invoke(owner, "download", "to-share", "-o", str(tmp_path), "--json"))
    assert saved == {"id": image_id, "path": str(tmp_path / f"{image_id}.qcow2"), "size": disk.stat().st_size}
    removed = json_of(invoke(owner, "member", "remove", image_id, other.account_id, "--json"))
    assert removed == {"image_id": image_id, "member_id": other.account_id, "removed": True}
    assert json_of(invoke(owner, "wait", image_id, "--json"))["status"] == "active"
    assert list(json_of(invoke(owner, "list", "--json"))) == ["images"]


def _admin(stack: Stack, *args: str) -> Any:
    settings = ["--database-url", stack.settings.resolved_database_url()]
    result = CliRunner().invoke(admin.app, [*settings, "--data-dir", str(stack.settings.data_dir), *args])
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_admin_commands_print_json_objects(stack: Stack, owner: Key) -> None:
    stack.components.source_grants.grant(owner.account_id, "a-bucket", "team")
    assert _admin(stack, "source", "list", "--json") == {
        "grants": [{"account_id": owner.account_id, "bucket": "a-bucket", "prefix": "team"}]
    }
    assert [a["id"] for a in _admin(stack, "account", "list", "--json")["accounts"]] == [owner.account_id]
    assert [k["access_key"] for k in _admin(stack, "key", "list", "--json")["keys"]] == [owner.access_key]
    key = owner.access_key
    assert _admin(stack, "key", "disable", key, "--json") == {"access_key": key, "enabled": False}
    assert _admin(stack, "key", "enable", key, "--json") == {"access_key": key, "enabled": True}
    assert _admin(stack, "key", "delete", key, "--json") == {"access_key": key, "deleted": True}
    assert _admin(stack, "key", "list", "--json") == {"keys": []}
    assert list(_admin(stack, "audit", "list", "--json")) == ["records"]
