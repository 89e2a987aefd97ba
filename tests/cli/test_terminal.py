"""The CLI as a person sees it: real pseudo-terminals 80 and 120 columns wide, tables that fit, names cut
with ``…`` only in tables, and tenant text (hostile on purpose) shown as text in every table."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from scp_images.signing import HEADER_ACCESS_KEY
from tests.api.helpers import cli_env, publish
from tests.cli.conftest import SCP_IMAGES, json_of, key_env, run_cli
from tests.cli.terminal import Screen, on_terminal
from tests.support.stack import Key, Stack

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # output, not storage

N30 = "a-name-of-exactly-thirty-chars"
N40 = "a-much-longer-name-of-forty-characters-x"
# Markup, a link, ESC sequences (SGR, OSC 8, clear screen), C1 CSI, a newline, a tab and a bidi override:
# the escapes come first so that a table's cut keeps them in view.
HOSTILE = "e\x1b[2J\x9b\n[/x]\t\u202e[link=http://e]x[/link][bold]\x1b]8;;http://e\x1b\\z"
HOSTILE_SHOWN = "e\\x1b[2J\\x9b\\n[/x]\\t\\u202e"  # how a table starts to show it
WIDTHS = (80, 120)
IMAGE_HEADERS = {"id", "name", "status", "visibility", "os_distro", "size", "created_at"}

assert len(N30) == 30 and len(N40) == 40


def _rows(screen: Screen) -> list[str]:
    return [line for line in screen.lines if line.strip()]


def _check_table(screen: Screen, columns: int, headers: set[str], records: int | None) -> list[str]:
    """Exit 0, nothing wider than the terminal, a header of whole words and exactly a line a record."""
    assert screen.returncode == 0, screen.raw
    screen.assert_clean()
    assert "\x1b]8" not in screen.raw  # no hyperlink, whatever the text said
    assert screen.widest() <= columns, screen.lines
    rows = _rows(screen)
    assert set(rows[0].split()) <= headers and rows[0].split()[0] in headers, rows[0]
    assert records is None or len(rows) == 1 + records, rows
    return rows[1:]


@pytest.fixture
def images(stack: Stack, owner: Key, make_qcow2: Callable[..., Path]) -> dict[str, str]:
    disk = make_qcow2("t.qcow2", "1M", data=False)
    return {
        name: str(publish(stack, disk, owner.account_id, name=name)["id"])
        for name in (N30, N40, HOSTILE, "ubuntu-22.04")
    }


def test_image_tables_fit_the_terminal_and_show_tenant_text_as_text(
    stack: Stack, owner: Key, home: Path, images: dict[str, str]
) -> None:
    env = key_env(stack, owner, home)
    for columns in WIDTHS:
        rows = _check_table(on_terminal(env, "image", "list", columns=columns), columns, IMAGE_HEADERS, 4)
        by_id = {row.split()[0]: row for row in rows}
        assert set(by_id) == {image_id[:8] for image_id in images.values()}  # short ids, as git shows
        assert f"  {N30}  " in by_id[images[N30][:8]]  # 30 characters stay whole
        assert f"  {N40[:29]}…  " in by_id[images[N40][:8]]  # longer ones are cut
        assert HOSTILE_SHOWN in by_id[images[HOSTILE][:8]]
        assert all(re.search(r"  \d{4}-\d\d-\d\d \d\d:\d\d$", row) for row in rows)  # compact time

    long = on_terminal(env, "image", "list", "--long", columns=80)
    assert long.returncode == 0 and N40 in long.text and images[N40] in long.text
    long.assert_clean()
    for ref in (N40, images[N40][:8]):  # by name and by id prefix
        shown = on_terminal(env, "image", "show", ref, columns=80)
        assert shown.returncode == 0 and N40 in shown.text and shown.widest() <= 80
    hostile = on_terminal(env, "image", "show", images[HOSTILE], columns=80)
    hostile.assert_clean()
    escaped = "e\\x1b[2J\\x9b\\n[/x]\\t\\u202e[link=http://e]x[/link][bold]\\x1b]8;;http://e\\x1b\\z"
    assert escaped in "".join(line.strip() for line in hostile.lines)  # whole, if folded
    assert "\x1b]8" not in hostile.raw and hostile.widest() <= 80
    assert {i["name"] for i in json_of(run_cli(env, "list", "--json"))["images"]} == set(images)

    # the user's transfers draw their bars in binary units too
    saved = on_terminal(env, "image", "download", N30, "-o", str(home / "copy.qcow2"))
    assert saved.returncode == 0 and "downloading" in saved.text and "/192.0 KiB" in saved.text
    sent = on_terminal(env, "image", "create", "--name", "sent", "--os-distro", "ubuntu", "--file",
                       str(home / "copy.qcow2"))  # fmt: skip
    assert sent.returncode == 0 and "uploading copy.qcow2" in sent.text and "/192.0 KiB" in sent.text
    assert " MB" not in saved.text + sent.text


def test_piped_tables_are_complete_and_stable(
    stack: Stack, owner: Key, home: Path, images: dict[str, str]
) -> None:
    env = key_env(stack, owner, home)
    listed = run_cli(env, "list")
    assert (
        listed.returncode == 0
        and "\x1b" not in listed.stdout
        and not any("\x80" <= c <= "\x9f" for c in listed.stdout)
    )
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["id", "name", "status", "visibility", "os_distro", "size", "created_at"]
    assert len(lines) == 1 + len(images)
    by_id = {line.split()[0]: line for line in lines[1:]}
    assert set(by_id) == set(images.values())  # full ids
    assert f"  {N40}  " in by_id[images[N40]]  # nothing cut
    starts = {line.index(" " + line.split()[2] + " ") for line in lines[1:]}  # the status column
    assert len(starts) == 1  # fixed columns
    assert run_cli(env, "list").stdout == listed.stdout  # the same again


def test_pending_and_member_tables_with_a_hostile_name(
    stack: Stack, owner: Key, home: Path, make_qcow2: Callable[..., Path]
) -> None:
    other = stack.new_account("other")
    disk = make_qcow2("t.qcow2", "1M", data=False)
    image_id = str(publish(stack, disk, owner.account_id, visibility="shared", name=HOSTILE)["id"])
    with stack.client(owner) as sdk:
        sdk.images.members.add(image_id, other.account_id)

    for columns in WIDTHS:
        pending = on_terminal(key_env(stack, other, home), "image", "pending", columns=columns)
        (row,) = _check_table(pending, columns, IMAGE_HEADERS, 1)
        assert row.startswith(image_id[:8]) and HOSTILE_SHOWN in row
        members = on_terminal(key_env(stack, owner, home), "image", "member", "list", image_id[:8])
        (row,) = _check_table(members, 80, {"member_id", "status", "created_at", "updated_at"}, 1)
        assert row.split()[:2] == [other.account_id, "pending"]  # whole: member remove takes it


def _admin_on_terminal(stack: Stack, *args: str, columns: int = 80) -> Screen:
    return on_terminal(cli_env(stack.settings), "admin", *args, columns=columns)


def test_admin_tables_have_headers_fit_and_show_tenant_text_as_text(stack: Stack, owner: Key) -> None:
    hostile = "ev\x1b[31mil\x9b[/x]\n\u202e"
    hostile_account = stack.new_account(hostile)
    denied = ("--deny", "virtualserver:DeleteImage", "--deny", "virtualserver:ShowImage")
    subprocess.run(
        [*SCP_IMAGES, "admin", "key", "create", "--account", owner.account_id, "--user", hostile, *denied],
        env=cli_env(stack.settings),
        check=True,
        capture_output=True,
        timeout=120,
    )
    stack.components.source_grants.grant(owner.account_id, "a-bucket", "team/" + "x" * 40)
    # A refused delete naming an access key made to read like a successful delete of the image
    forged = "AK  image.delete  204  ok"
    refused = httpx.delete(
        f"{stack.base_url}/v1/images/{'0' * 8}-0000-4000-8000-{'0' * 12}", headers={HEADER_ACCESS_KEY: forged}
    )
    assert refused.status_code == 401

    records = len(json.loads(_admin_on_terminal(stack, "audit", "list", "--json").text)["records"])
    for columns in WIDTHS:
        accounts = _check_table(
            _admin_on_terminal(stack, "account", "list", columns=columns),
            columns,
            {"id", "name", "operator"},
            2,
        )
        assert any("ev\\x1b[31mil\\x9b[/x]\\n\\u202e" in row for row in accounts)
        assert any(row.startswith(hostile_account.account_id + "  ") for row in accounts)  # whole
        keys = _check_table(
            _admin_on_terminal(stack, "key", "list", columns=columns),
            columns,
            {"access_key", "account_id", "user_name", "role", "state", "denied_actions"},
            3,
        )
        assert sum("ev\\x1b[31mil" in row for row in keys) == 2  # its own key, and the one made here
        _check_table(
            _admin_on_terminal(stack, "source", "list", columns=columns),
            columns,
            {"account_id", "bucket", "prefix"},
            1,
        )
        quota = _admin_on_terminal(stack, "quota", "show", "--account", owner.account_id, columns=columns)
        assert (
            quota.returncode == 0
            and quota.widest() <= columns
            and ["quota", "usage", "limit"] in [line.split() for line in quota.lines]
        )
        audit = _admin_on_terminal(stack, "audit", "list", columns=columns)
        rows = _check_table(
            audit,
            columns,
            {"at", "action", "status", "error", "kind", "who", "image_id", "member_id", "detail"},
            records,
        )
        (delete,) = [row for row in rows if "image.delete" in row]
        assert delete.split()[3] == "401" and " ok " not in delete  # the outcome before the forged text
        if columns >= 120:
            assert f'"{forged[:20]}' in delete  # the presented key is quoted (and cut)
        scrub = _admin_on_terminal(stack, "scrub", columns=columns)
        assert scrub.returncode == 0 and "all fine" in scrub.text and scrub.widest() <= columns

    piped = subprocess.run(
        [*SCP_IMAGES, "admin", "audit", "list"],
        env=cli_env(stack.settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (delete,) = [line for line in piped.stdout.splitlines() if "image.delete" in line]
    assert f'"{forged}"' in delete and delete.split()[2:4] == ["401", "auth.Unauthenticated"]


def test_admin_image_import_shows_progress_on_a_terminal_only(
    stack: Stack, owner: Key, make_qcow2: Callable[..., Path]
) -> None:
    disk = make_qcow2("p.qcow2", "1M", data=False)
    args = ("image", "import", "--file", str(disk), "--os-distro", "ubuntu", "--owner", owner.account_id)
    shown = _admin_on_terminal(stack, *args, "--name", "with-bar")
    assert shown.returncode == 0 and "importing p.qcow2" in shown.text
    assert "192.0/192.0 KiB" in shown.text  # binary units, as the tables count
    piped = subprocess.run(
        [*SCP_IMAGES, "admin", *args, "--name", "piped", "--json"],
        env=cli_env(stack.settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0 and piped.stderr == "" and json.loads(piped.stdout)["name"] == "piped"
    quiet = _admin_on_terminal(stack, *args, "--name", "json-on-tty", "--json")
    assert quiet.returncode == 0 and "importing" not in quiet.text
