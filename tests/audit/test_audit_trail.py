"""The audit trail over HTTP and the operator CLI, on SQLite and PostgreSQL: every state-changing call is
recorded with the request id its response carried, refusals (401, 403) included, and a record that cannot
be written fails the change (503) instead of letting it happen unrecorded."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scp_images.app import build_components
from scp_images.config import Settings
from scp_images.domain.audit import ActorKind, AuditRecord
from scp_images.domain.principal import Action
from scp_images.services.audit import AuditQuery, AuditTrail
from tests.audit.helpers import AuditOutage, audit_list, by_request, listed, rid
from tests.support.stack import Key, Stack, start_stack

UPLOAD = {"source": "upload"}


def _create(stack: Stack, key: Key, name: str = "audited") -> Any:
    response = stack.request(
        "POST", "/v1/images", key, params=UPLOAD, json={"name": name, "os_distro": "rocky"}
    )
    assert response.status_code == 200, response.text
    return response


def test_each_call_is_one_record_with_the_request_id_of_its_response(
    stack: Stack, make_qcow2: Callable[..., Path]
) -> None:
    owner, member = stack.new_account("owner"), stack.new_account("member")
    created = _create(stack, owner)
    image_id = created.json()["id"]
    calls = {"image.create": (created, owner, 200)}

    def call(action: str, key: Key, method: str, path: str, status: int, **kwargs: Any) -> None:
        response = stack.request(method, path, key, **kwargs)
        assert response.status_code == status, response.text
        calls[action] = (response, key, status)

    base = f"/v1/images/{image_id}"
    call("image.update", owner, "PUT", base, 200, json={"min_disk": 3})
    call("image.upload", owner, "PUT", f"/v2/images/{image_id}/file", 204, content=make_qcow2().read_bytes())
    call("image.share", owner, "POST", f"{base}/share", 202)
    call("member.add", owner, "POST", f"{base}/members", 200, json={"member_id": member.account_id})
    call(
        "member.status",
        member,
        "PUT",
        f"{base}/members/{member.account_id}",
        200,
        json={"status": "accepted"},
    )
    call("member.remove", owner, "DELETE", f"{base}/members/{member.account_id}", 204)
    call("image.delete", owner, "DELETE", base, 204)

    records = audit_list(stack.settings, "--image", image_id)
    assert len(records) == len(calls)
    # Newest first: the reverse of the order the calls were made in.
    assert [r["request_id"] for r in records] == [
        rid(response) for response, _, _ in reversed(calls.values())
    ]
    found = by_request(records)
    for action, (response, key, status) in calls.items():
        record = found[rid(response)]
        assert (record["action"], record["status"], record["error_code"]) == (action, status, None)
        assert (record["actor_kind"], record["account_id"], record["access_key"]) == (
            "api",
            key.account_id,
            key.access_key,
        )
        assert record["image_id"] == image_id
    assert found[rid(calls["member.add"][0])]["member_id"] == member.account_id


def test_a_refused_or_failed_call_is_recorded_with_its_status_and_code(stack: Stack) -> None:
    owner = stack.new_account("owner")
    no_delete = stack.new_account("nodelete", deny=(Action.DELETE_IMAGE,))
    image_id = _create(stack, no_delete).json()["id"]
    hostile = "AK'; DROP TABLE audit_records;--" + "\u00e9" * 3 + "x" * 300
    # UTF-8 on the wire; the server reads header bytes as latin-1, so each é is two non-ASCII characters.
    headers = {
        "Scp-AccessKey": hostile.encode(),
        "Scp-Signature": "c2ln",
        "Scp-Timestamp": "1",
        "Scp-ClientType": "x",
    }
    unauthenticated = stack.request("DELETE", f"/v1/images/{image_id}", None, headers=headers)
    forbidden = stack.request("DELETE", f"/v1/images/{image_id}", no_delete)
    not_owner = stack.request("PUT", f"/v1/images/{image_id}", owner, json={"min_disk": 1})
    assert [unauthenticated.status_code, forbidden.status_code, not_owner.status_code] == [401, 403, 404]

    found = by_request(listed(stack.settings, "--image", image_id))
    refused = found[rid(unauthenticated)]
    assert (refused["status"], refused["error_code"], refused["account_id"]) == (
        401,
        "virtualserver.auth.Unauthenticated",
        None,
    )
    # The key presented, as text: printable ASCII, cut to the column's width.
    assert refused["access_key"] == ("AK'; DROP TABLE audit_records;--" + "?" * 6 + "x" * 300)[:64]
    denied = found[rid(forbidden)]
    assert (denied["action"], denied["status"], denied["error_code"]) == (
        "image.delete",
        403,
        "virtualserver.auth.Forbidden",
    )
    assert (denied["account_id"], denied["access_key"]) == (no_delete.account_id, no_delete.access_key)
    missing = found[rid(not_owner)]
    assert (missing["action"], missing["status"], missing["account_id"]) == (
        "image.update",
        404,
        owner.account_id,
    )
    assert stack.request("GET", f"/v1/images/{image_id}", no_delete).status_code == 200


def test_a_rejected_upload_is_one_record_with_its_400(stack: Stack) -> None:
    owner = stack.new_account("owner")
    image_id = _create(stack, owner).json()["id"]
    response = stack.request("PUT", f"/v2/images/{image_id}/file", owner, content=b"\0" * 4096)
    assert response.status_code == 400
    records = listed(stack.settings, "--image", image_id)
    upload = by_request(records)[rid(response)]
    assert (upload["action"], upload["status"], upload["error_code"]) == (
        "image.upload",
        400,
        response.json()["errors"][0]["code"],
    )
    assert len([r for r in records if r["action"] == "image.upload"]) == 1
    assert stack.request("GET", f"/v1/images/{image_id}", owner).json()["status"] == "killed"


def test_a_change_whose_record_cannot_be_written_fails_with_503_and_changes_nothing(
    stack: Stack, database_url: str
) -> None:
    owner = stack.new_account("owner")
    image_id = _create(stack, owner).json()["id"]
    before = stack.request("GET", f"/v1/images/{image_id}", owner).json()
    with AuditOutage(database_url):
        deleted = stack.request("DELETE", f"/v1/images/{image_id}", owner)
        updated = stack.request(
            "PUT", f"/v1/images/{image_id}", owner, json={"min_disk": 7, "protected": True}
        )
        created = stack.request(
            "POST", "/v1/images", owner, params=UPLOAD, json={"name": "x", "os_distro": "rocky"}
        )
    for response in (deleted, updated, created):
        assert response.status_code == 503, response.text
        assert response.json()["errors"][0]["code"] == "virtualserver.Unavailable"
    assert stack.request("GET", f"/v1/images/{image_id}", owner).json() == before
    images = stack.request("GET", "/v1/images", owner).json()["images"]
    assert [image["id"] for image in images] == [image_id]
    # Nothing of the outage reached the trail: the owner's only call on record is the first create.
    calls = [r for r in listed(stack.settings, "--account", owner.account_id) if r["actor_kind"] == "api"]
    assert [(r["action"], r["image_id"], r["status"]) for r in calls] == [("image.create", image_id, 200)]


def test_a_refusal_keeps_its_status_and_logs_the_record_it_could_not_write(
    stack: Stack, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    owner = stack.new_account("owner")
    no_delete = stack.new_account("nodelete", deny=(Action.DELETE_IMAGE,))
    image_id = _create(stack, no_delete).json()["id"]
    stranger = Key("NOSUCHKEY", "secret", owner.account_id, "nobody")
    with caplog.at_level(logging.ERROR, logger="scp_images.audit"), AuditOutage(database_url):
        refused = stack.request("DELETE", f"/v1/images/{image_id}", stranger)
        forbidden = stack.request("DELETE", f"/v1/images/{image_id}", no_delete)
    assert (refused.status_code, forbidden.status_code) == (401, 403)
    logged = {getattr(r, "request_id", None) for r in caplog.records if r.name == "scp_images.audit"}
    assert {rid(refused), rid(forbidden)} <= logged
    assert stack.request("GET", f"/v1/images/{image_id}", no_delete).status_code == 200


def _unauthenticated(stack: Stack, image_id: str) -> Any:
    headers = {
        "Scp-AccessKey": "MADEUP",
        "Scp-Signature": "c2ln",
        "Scp-Timestamp": "1",
        "Scp-ClientType": "x",
    }
    response = stack.request("DELETE", f"/v1/images/{image_id}", None, headers=headers)
    assert response.status_code == 401
    return response


def test_a_flood_of_unauthenticated_calls_is_counted_not_written(settings: Settings) -> None:
    """Made-up keys cost the sender nothing: past the rate bound their records are not written."""
    stack = start_stack(settings.model_copy(update={"audit_unauthenticated_per_second": 0.001}))
    try:
        owner = stack.new_account("owner")
        image_id = _create(stack, owner).json()["id"]
        first = _unauthenticated(stack, image_id)
        for _ in range(5):
            _unauthenticated(stack, image_id)
        refused = [r for r in listed(stack.settings, "--image", image_id) if r["status"] == 401]
        assert [r["request_id"] for r in refused] == [rid(first)]
        # Authenticated calls are never bounded.
        assert stack.request("DELETE", f"/v1/images/{image_id}", owner).status_code == 204
        assert listed(stack.settings, "--image", image_id)[0]["action"] == "image.delete"
    finally:
        stack.stop()


def test_the_next_record_past_the_bound_says_how_many_were_left_out(settings: Settings) -> None:
    now = [0.0]
    parts = build_components(settings)
    try:
        trail = AuditTrail(parts.db, parts.clock, unauthenticated_per_second=1.0, monotonic=lambda: now[0])

        def refused(n: int) -> bool:
            record = AuditRecord(
                parts.clock(), ActorKind.API, "image.delete", request_id=f"req-{n}", status=401, detail="why"
            )
            return trail.record_alone(record)

        assert [refused(n) for n in range(4)] == [True, False, False, False]
        now[0] = 1.0
        assert refused(4)
        records = trail.list(AuditQuery())
        assert [r.request_id for r in records] == ["req-4", "req-0"]
        assert (
            records[0].detail == "3 unauthenticated calls before this one were not recorded (rate bound); why"
        )
    finally:
        parts.close()
