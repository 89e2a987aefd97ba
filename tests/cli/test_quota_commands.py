"""``scp-images admin quota …`` as real subprocesses on SQLite and PostgreSQL, and a refusal as the user
CLI shows it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from scp_images.config import Settings
from scp_images.domain.quotas import Overrides
from tests.api.helpers import SCP_IMAGES, cli_env
from tests.cli.conftest import Invoke
from tests.support.stack import Key, Stack


def quota(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCP_IMAGES, "admin", "quota", *args],
        env={**cli_env(settings), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def report(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_set_show_and_reset_print_limits_and_usage(stack: Stack, owner: Key) -> None:
    settings, account = stack.settings, owner.account_id
    defaults = {"SCP_IMAGES_QUOTA_IMAGE_COUNT_TOTAL": "3"}
    body = {"name": "one", "os_distro": "ubuntu"}
    assert stack.request("POST", "/v1/images", owner, params={"source": "upload"}, json=body).is_success
    shown = report(quota(settings, "show", "--account", account, "--json", **defaults))
    assert shown == {
        "account_id": account,
        "limits": {"images": 3, "bytes": None, "uploading": None},
        "usage": {"images": 1, "bytes": 0, "uploading": 0},
    }
    changed = report(quota(settings, "set", "--account", account, "--images", "5", "--bytes", "-1", "--json"))
    assert changed["limits"] == {"images": 5, "bytes": None, "uploading": None}
    more = report(
        quota(settings, "set", "--account", account, "--uploading", "2", "--bytes", "4096", "--json")
    )
    assert more["limits"] == {"images": 5, "bytes": 4096, "uploading": 2}  # --images 5 was kept
    unlimited = report(quota(settings, "set", "--account", account, "--images", "-1", "--json", **defaults))
    assert unlimited["limits"]["images"] is None  # -1 lifts even the default
    reset = report(quota(settings, "reset", "--account", account, "--json", **defaults))
    assert reset["limits"] == {"images": 3, "bytes": None, "uploading": None}
    assert reset["usage"]["images"] == 1
    table = quota(settings, "show", "--account", account)
    assert table.returncode == 0 and ["images", "1", "unlimited"] in [
        r.split() for r in table.stdout.splitlines()
    ]


def test_bad_values_and_unknown_accounts(stack: Stack, owner: Key) -> None:
    settings = stack.settings
    below = quota(settings, "set", "--account", owner.account_id, "--bytes", "-2")
    assert below.returncode == 2 and "--bytes" in below.stderr
    nothing = quota(settings, "set", "--account", owner.account_id)
    assert nothing.returncode == 2 and "--images" in nothing.stderr
    unknown = quota(settings, "show", "--account", "f" * 32)
    assert unknown.returncode == 1 and "virtualserver.account.NotFound" in unknown.stderr
    assert quota(settings, "reset", "--account", "f" * 32).returncode == 1


def test_the_user_cli_shows_the_413_with_code_and_text(
    stack: Stack, owner: Key, invoke: Invoke, small_qcow2: Path
) -> None:
    stack.components.quotas.set(owner.account_id, Overrides(images=0))
    refused = invoke(owner, "create", "--name", "nope", "--os-distro", "ubuntu", "--file", str(small_qcow2))
    assert refused.exit_code == 1
    code = "virtualserver.quota.ImageCountTotalExceeded"
    assert f"413 {code}: Quota image_count_total exceeded" in " ".join(refused.stderr.split())
