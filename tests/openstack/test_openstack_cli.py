"""The unified ``openstack`` CLI (python-openstackclient), unchanged, against a live server: once with a
clouds.yaml entry per account (application credentials), once with the password method from OS_* variables.
Each invocation is a fresh process (cliff, osc-lib, openstacksdk, keystoneauth): slow, so the steps share
one image and few calls."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.openstack.conftest import REGION, md5
from tests.support.stack import Key, Stack
from tests.support.tools import missing, require_qemu, run_tool


def _openstack() -> str:
    found = shutil.which("openstack") or str(Path(sys.executable).with_name("openstack"))
    if not Path(found).exists():
        missing("the openstack CLI (python-openstackclient) is not installed")
    return found


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(tmp_path)  # no user's clouds.yaml or cache leaks in
    return env


class Cli:
    """``openstack --os-cloud NAME …`` with a clouds.yaml written in a tmp dir."""

    def __init__(self, stack: Stack, tmp_path: Path, keys: dict[str, Key]) -> None:
        clouds = {
            name: {
                "auth_type": "v3applicationcredential",
                "auth": {
                    "auth_url": f"{stack.base_url}/identity/v3",
                    "application_credential_id": key.access_key,
                    "application_credential_secret": key.secret_key,
                },
                "region_name": REGION,
            }
            for name, key in keys.items()
        }
        config = tmp_path / "clouds.yaml"
        config.write_text(json.dumps({"clouds": clouds}))  # JSON is YAML
        self.env = {**_clean_env(tmp_path), "OS_CLIENT_CONFIG_FILE": str(config)}

    def run(self, cloud: str, *args: str) -> subprocess.CompletedProcess[str]:
        return _run([_openstack(), "--os-cloud", cloud, *args], self.env)

    def ok(self, cloud: str, *args: str) -> str:
        done = self.run(cloud, *args)
        assert done.returncode == 0, f"openstack {' '.join(args)}: {done.stderr}"
        return done.stdout

    def json(self, cloud: str, *args: str) -> Any:
        return json.loads(self.ok(cloud, *args, "-f", "json"))


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=180, check=False)


def test_openstack_cli_image_lifecycle_with_application_credentials(
    stack: Stack, tmp_path: Path, qcow2_bytes: bytes
) -> None:
    owner, other = stack.new_account("owner"), stack.new_account("other")
    cli = Cli(stack, tmp_path, {"owner": owner, "other": other})
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(qcow2_bytes)
    created = cli.json(
        "owner",
        "image",
        "create",
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--file",
        str(disk),
        "osc-image",
    )
    image_id = created["id"]
    listed = cli.json("owner", "image", "list")
    assert [(i["ID"], i["Name"], i["Status"]) for i in listed] == [(image_id, "osc-image", "active")]
    cli.ok("owner", "image", "set", "--property", "team=infra", "--tag", "blue", image_id)
    shown = cli.json("owner", "image", "show", image_id)
    assert (shown["status"], shown["disk_format"], shown["checksum"]) == ("active", "qcow2", md5(qcow2_bytes))
    assert shown["tags"] == ["blue"]
    assert shown["properties"]["team"] == "infra"
    out = tmp_path / "out.qcow2"
    cli.ok("owner", "image", "save", "--file", str(out), image_id)
    assert out.read_bytes() == qcow2_bytes

    member = cli.json("owner", "image", "add", "project", image_id, other.account_id)
    assert (member["member_id"], member["status"]) == (other.account_id, "pending")
    cli.ok("other", "image", "set", "--accept", image_id)
    members = cli.json("owner", "image", "member", "list", image_id)
    assert [(m["Member ID"], m["Status"]) for m in members] == [(other.account_id, "accepted")]

    cli.ok("owner", "image", "set", "--deactivate", image_id)
    assert cli.json("owner", "image", "show", image_id)["status"] == "deactivated"
    cli.ok("owner", "image", "set", "--activate", image_id)
    cli.ok("owner", "image", "delete", image_id)
    gone = cli.run("owner", "image", "show", image_id)
    assert gone.returncode != 0
    assert "No Image found" in gone.stderr or "404" in gone.stderr


def _password_env(stack: Stack, key: Key, tmp_path: Path) -> dict[str, str]:
    return {
        **_clean_env(tmp_path),
        "OS_AUTH_URL": f"{stack.base_url}/identity/v3",
        "OS_USERNAME": key.access_key,
        "OS_PASSWORD": key.secret_key,
        "OS_PROJECT_ID": key.account_id,
        "OS_USER_DOMAIN_ID": "default",
        "OS_PROJECT_DOMAIN_ID": "default",
        "OS_REGION_NAME": REGION,
    }


def test_openstack_cli_default_raw_create_with_the_password_method(
    stack: Stack, tmp_path: Path, qcow2_bytes: bytes
) -> None:
    """Without --disk-format the CLI sends ``raw``: a qcow2 file is refused (the format-match check),
    a raw disk is stored."""
    require_qemu()
    env = _password_env(stack, stack.new_account("alpha"), tmp_path)
    qcow2 = tmp_path / "disk.qcow2"
    qcow2.write_bytes(qcow2_bytes)
    refused = _run([_openstack(), "image", "create", "--file", str(qcow2), "liar", "-f", "json"], env)
    assert refused.returncode != 0
    assert "(format_mismatch): disk_format is raw but the data is a qcow2" in refused.stderr
    raw = tmp_path / "disk.raw"
    run_tool("qemu-img", "create", "-q", "-f", "raw", str(raw), "8M")
    run_tool("qemu-io", "-f", "raw", "-c", "write -P 0x5a 1M 64k", str(raw))
    done = _run([_openstack(), "image", "create", "--file", str(raw), "plain", "-f", "json"], env)
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert (created["disk_format"], created["status"], created["size"]) == (
        "raw",
        "active",
        raw.stat().st_size,
    )
    listed = _run([_openstack(), "image", "list", "--long", "-f", "json"], env)
    assert listed.returncode == 0, listed.stderr
    rows = {row["Name"]: row for row in json.loads(listed.stdout)}
    assert rows["plain"]["Status"] == "active"
    assert "liar" not in rows  # openstacksdk deletes the image whose upload was refused


@pytest.fixture(autouse=True)
def _cli_present() -> None:
    _openstack()
