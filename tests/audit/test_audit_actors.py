"""Who the trail names when no tenant calls: a worker publishing or killing an import, the operator's
commands, and the retention sweep (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scp_images.config import Settings
from scp_images.domain.audit import ActorKind, AuditRecord
from scp_images.services.audit import AuditQuery
from scp_images.services.upkeep.recovery import Recovery
from scp_images.store.sql import audit as audit_store
from tests.api.conftest import s3_settings
from tests.audit.helpers import listed, rid, run_admin
from tests.support.stack import Stack, start_stack
from tests.support.tools import wait_until


@pytest.fixture
def import_stack(settings: Settings, s3_endpoint: str) -> Iterator[Stack]:
    running = start_stack(s3_settings(settings, s3_endpoint))
    yield running
    running.stop()


def test_the_worker_is_the_actor_of_an_import_it_publishes_or_kills(
    import_stack: Stack,
    put_object: Callable[[Path, str], str],
    source_bucket: str,
    make_qcow2: Callable[..., Path],
    tmp_path: Path,
) -> None:
    stack = import_stack
    owner = stack.new_account("owner")
    stack.grant(owner, source_bucket)
    garbage = tmp_path / "garbage.qcow2"
    garbage.write_bytes(b"\0" * 8192)
    created = {}
    for name, path in (("good", make_qcow2()), ("bad", garbage)):
        body = {"name": name, "os_distro": "rocky", "url": put_object(path, f"{name}.qcow2")}
        created[name] = stack.request("POST", "/v1/images", owner, json=body)
    ids = {name: response.json()["id"] for name, response in created.items()}

    def settled() -> bool:
        shown = [stack.request("GET", f"/v1/images/{i}", owner).json()["status"] for i in ids.values()]
        return shown == ["active", "killed"]

    wait_until(settled, what="both imports to settle", timeout=60)
    for name, action in (("good", "import.publish"), ("bad", "import.kill")):
        records = listed(stack.settings, "--image", ids[name])
        assert [r["action"] for r in records] == [action, "image.create"]
        done, create = records
        assert create["request_id"] == rid(created[name])
        assert (done["actor_kind"], done["account_id"], done["request_id"], done["status"]) == (
            "worker",
            owner.account_id,
            None,
            None,
        )
        # The runner inside this test's server process: host:pid:random.
        assert f":{os.getpid()}:" in done["actor"]
    # The kill names the reason the import record shows the owner.
    reason = stack.request("GET", f"/v1/images/{ids['bad']}/import", owner).json()["reason"]
    assert reason.startswith(records[0]["detail"])  # the owner reads the next step after it too


def test_operator_commands_are_recorded_with_the_operator_as_actor(
    settings: Settings, make_qcow2: Callable[..., Path]
) -> None:
    account = json.loads(run_admin(settings, "account", "create", "--name", "team", "--json").stdout)["id"]
    created = run_admin(settings, "key", "create", "--account", account, "--user", "u@example.com", "--json")
    key = json.loads(created.stdout)
    run_admin(settings, "key", "disable", key["access_key"])
    run_admin(
        settings, "source", "grant", "--account", account, "--bucket", "team-bucket", "--prefix", "disks"
    )
    run_admin(
        settings, "source", "revoke", "--account", account, "--bucket", "team-bucket", "--prefix", "disks"
    )
    run_admin(settings, "key", "delete", key["access_key"])
    published = run_admin(
        settings,
        "image",
        "import",
        "--file",
        str(make_qcow2()),
        "--name",
        "std",
        "--os-distro",
        "ubuntu",
        "--owner",
        account,
        "--json",
    )
    image_id = json.loads(published.stdout)["id"]

    records = listed(settings, "--account", account)
    assert [r["action"] for r in records] == [
        "image.publish",
        "key.delete",
        "source.revoke",
        "source.grant",
        "key.disable",
        "key.create",
        "account.create",
    ]
    assert {(r["actor_kind"], r["account_id"], r["request_id"]) for r in records} == {
        ("operator", account, None)
    }
    assert all("@" in r["actor"] for r in records)  # user@host
    assert records[0]["image_id"] == image_id
    assert key["access_key"] in records[1]["detail"]
    assert records[2]["detail"] == "s3://team-bucket/disks"


def test_export_writes_json_lines_oldest_first_since_the_given_time(settings: Settings) -> None:
    for name in ("one", "two", "three"):
        run_admin(settings, "account", "create", "--name", name)
    newest_first = listed(settings)
    since = newest_first[1]["at"]  # the second newest: it and the newest are exported
    lines = run_admin(settings, "audit", "export", "--since", since).stdout.splitlines()
    assert [json.loads(line) for line in lines] == list(reversed(newest_first[:2]))
    # The same instant written with an offset selects the same records.
    at = since.removesuffix("Z")
    shifted = (datetime.fromisoformat(at) + timedelta(hours=9)).isoformat() + "+09:00"
    assert run_admin(settings, "audit", "export", "--since", shifted).stdout.splitlines() == lines
    run_admin(settings, "audit", "export", "--since", "yesterday", code=2)


def test_the_background_sweep_removes_records_past_the_retention_and_records_that(settings: Settings) -> None:
    stack = start_stack(
        settings.model_copy(update={"audit_retention_days": 1.0, "orphan_grace_seconds": 1.0})
    )
    try:
        now = stack.components.clock()
        old = [
            AuditRecord(at=now - timedelta(days=days), actor_kind=ActorKind.OPERATOR, action="account.create")
            for days in (3, 2, 1.01)
        ]
        with stack.components.db.transaction() as conn:
            for record in old:
                audit_store.insert_record(conn, record)
        owner = stack.new_account("fresh")
        created = stack.request(
            "POST", "/v1/images", owner, params={"source": "upload"}, json={"name": "n", "os_distro": "rocky"}
        )

        def swept() -> list[Any]:
            records = stack.components.audit.list(AuditQuery(limit=1000))
            return [] if any(r.at < now - timedelta(days=1) for r in records) else records

        wait_until(swept, what="the sweep of the old records", timeout=30)
    finally:
        stack.stop()
    records = listed(settings)
    sweeps = [r for r in records if r["action"] == "audit.sweep"]
    assert len(sweeps) == 1 and sweeps[0]["actor_kind"] == "worker"
    assert sweeps[0]["detail"].startswith("removed 3 records older than")
    assert rid(created) in {r["request_id"] for r in records}  # a fresh record stays


def test_an_abandoned_upload_queued_again_names_the_recovering_worker(stack: Stack) -> None:
    owner = stack.new_account("owner")
    body = {"name": "abandoned", "os_distro": "rocky"}
    image_id = stack.request("POST", "/v1/images", owner, params={"source": "upload"}, json=body).json()["id"]
    principal = stack.components.accounts.list_keys(owner.account_id)[0].principal()
    stack.components.images.begin_upload(principal, image_id, "upload:req-gone")  # its writer then vanished
    recovery = Recovery(
        stack.components.db,
        stack.components.blobs,
        stale_seconds=0,
        grace_seconds=3600,
        upload_stale_seconds=0,
        worker_id="worker-under-test",
    )
    recovery.settle_abandoned_writes()
    assert stack.request("GET", f"/v1/images/{image_id}", owner).json()["status"] == "queued"
    requeued = listed(stack.settings, "--image", image_id)[0]
    assert (requeued["action"], requeued["actor_kind"], requeued["actor"], requeued["account_id"]) == (
        "import.requeue",
        "worker",
        "worker-under-test",
        owner.account_id,
    )


def test_the_operators_quota_commands_are_recorded_with_what_they_set(settings: Settings) -> None:
    account = json.loads(run_admin(settings, "account", "create", "--name", "quota", "--json").stdout)["id"]
    run_admin(settings, "quota", "set", "--account", account, "--images", "5", "--json")
    run_admin(settings, "quota", "set", "--account", account, "--bytes", "-1", "--json")
    run_admin(settings, "quota", "reset", "--account", account, "--json")

    records = listed(settings, "--account", account)
    assert [r["action"] for r in records] == ["quota.reset", "quota.set", "quota.set", "account.create"]
    assert {r["actor_kind"] for r in records} == {"operator"}
    assert records[1]["detail"] == "images=5 bytes=-1 uploading=None"
    assert records[2]["detail"] == "images=5 bytes=None uploading=None"
