"""``python -m scp_images.cli image …`` as a real subprocess: exit codes, JSON on stdout, credentials."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import clean_env, json_of, key_env, run_cli
from tests.support.stack import Key, Stack


def test_create_from_file_prints_the_active_image_as_json(
    stack: Stack, owner: Key, home: Path, make_qcow2: Callable[..., Path]
) -> None:
    path = make_qcow2("disk.qcow2", "32M")
    env = key_env(stack, owner, home)

    args = ["create", "--name", "cli-file", "--os-distro", "ubuntu", "--file", str(path), "--min-disk", "3"]
    created = json_of(run_cli(env, *args, "--json"))

    assert created["status"] == "active"
    assert created["checksum"] == hashlib.md5(path.read_bytes()).hexdigest()
    assert created["min_disk"] == 3 and created["owner"] == owner.account_id
    shown = json_of(run_cli(env, "show", created["id"], "--json"))
    assert shown == created
    listed = json_of(run_cli(env, "list", "--json"))
    assert [i["id"] for i in listed["images"]] == [created["id"]]
    table = run_cli(env, "list")
    assert table.returncode == 0 and created["id"] in table.stdout and "cli-file" in table.stdout


def test_api_errors_exit_1_with_code_and_detail(stack: Stack, owner: Key, home: Path) -> None:
    missing = str(uuid.uuid4())
    result = run_cli(key_env(stack, owner, home), "show", missing)
    assert result.returncode == 1
    assert "404 virtualserver.image.NotFound" in result.stderr and missing in result.stderr
    assert "request id req-" in result.stderr
    assert result.stdout == ""


def test_wrong_secret_is_an_api_error(stack: Stack, owner: Key, home: Path) -> None:
    env = key_env(stack, owner, home) | {"SCP_SECRET_KEY": "not-the-secret"}
    result = run_cli(env, "list")
    assert result.returncode == 1 and "401" in result.stderr


def test_usage_error_exits_2(stack: Stack, owner: Key, home: Path) -> None:
    result = run_cli(key_env(stack, owner, home), "create", "--name", "n", "--os-distro", "ubuntu")
    assert result.returncode == 2
    assert "exactly one of --url and --file" in result.stderr
    assert result.stdout == ""


def test_missing_credentials_exit_2(home: Path) -> None:
    result = run_cli(clean_env(home), "list")
    assert result.returncode == 2
    assert "missing endpoint" in result.stderr


def test_credentials_and_endpoint_from_scpconf(stack: Stack, owner: Key, home: Path) -> None:
    conf = home / ".scpconf"
    conf.mkdir()
    (conf / "credentials.json").write_text(
        json.dumps({"access-key": owner.access_key, "secret-key": owner.secret_key})
    )
    (conf / "config.json").write_text(json.dumps({"endpoint": stack.base_url}))
    with stack.client(owner) as sdk:
        image = sdk.images.create("from-conf", "ubuntu")

    listed = json_of(run_cli(clean_env(home), "list", "--json"))

    assert [i["id"] for i in listed["images"]] == [image.id]
