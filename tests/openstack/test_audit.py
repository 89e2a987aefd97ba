"""The audit trail of the OpenStack edge: every v2 change is one record under the request id its response
carried (``X-Request-Id``), with the caller's key and account and the status the v2 client was answered;
refusals are recorded with the verified key, never with the token's text."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from scp_images.domain.principal import Action
from tests.audit.helpers import by_request, listed, rid
from tests.openstack.conftest import connect, token
from tests.support.stack import Key, Stack

PATCH = "application/openstack-images-v2.1-json-patch"
OCTET = {"Content-Type": "application/octet-stream"}


class V2:
    """Raw v2 calls with one key's token: the shapes and headers as a client receives them."""

    def __init__(self, stack: Stack, key: Key) -> None:
        self.stack, self.key = stack, key
        self.headers = {"X-Auth-Token": token(stack, key)}

    def __call__(self, method: str, path: str, status: int, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        url = f"{self.stack.base_url}/image/v2{path}"
        response = self.stack.http.request(method, url, headers=headers, **kwargs)
        assert response.status_code == status, response.text
        return response


def test_each_v2_change_is_one_record_with_its_request_id(stack: Stack, qcow2_bytes: bytes) -> None:
    owner, member = stack.new_account("owner"), stack.new_account("member")
    as_owner, as_member = V2(stack, owner), V2(stack, member)
    created = as_owner("POST", "/images", 201, json={"name": "audited", "disk_format": "qcow2"})
    image_id = created.json()["id"]
    base = f"/images/{image_id}"
    calls: list[tuple[str, httpx.Response, Key, int]] = [("image.create", created, owner, 201)]

    def call(action: str, v2: V2, method: str, path: str, status: int, **kwargs: Any) -> None:
        calls.append((action, v2(method, path, status, **kwargs), v2.key, status))

    call("image.upload", as_owner, "PUT", f"{base}/stage", 204, content=qcow2_bytes, headers=OCTET)
    call("image.import", as_owner, "POST", f"{base}/import", 202, json={"method": {"name": "glance-direct"}})
    call("image.deactivate", as_owner, "POST", f"{base}/actions/deactivate", 204)
    call("image.reactivate", as_owner, "POST", f"{base}/actions/reactivate", 204)
    call("image.update", as_owner, "PUT", f"{base}/tags/blue", 204)
    call("image.update", as_owner, "DELETE", f"{base}/tags/blue", 204)
    patch = [{"op": "replace", "path": "/min_disk", "value": 2}]
    call("image.update", as_owner, "PATCH", base, 200, json=patch, headers={"Content-Type": PATCH})
    call("member.add", as_owner, "POST", f"{base}/members", 200, json={"member": member.account_id})
    who = f"{base}/members/{member.account_id}"
    call("member.status", as_member, "PUT", who, 200, json={"status": "accepted"})
    call("member.remove", as_owner, "DELETE", who, 204)
    call("image.delete", as_owner, "DELETE", base, 204)

    records = listed(stack.settings, "--image", image_id)
    # One record per call, newest first.
    assert [r["request_id"] for r in records] == [rid(response) for _, response, _, _ in reversed(calls)]
    found = by_request(records)
    for action, response, key, status in calls:
        record = found[rid(response)]
        assert (record["action"], record["status"], record["error_code"]) == (action, status, None)
        assert (record["actor_kind"], record["account_id"], record["access_key"]) == (
            "api",
            key.account_id,
            key.access_key,
        )
        assert record["image_id"] == image_id
    assert {found[rid(r)]["member_id"] for a, r, _, _ in calls if a.startswith("member.")} == {
        member.account_id
    }


def test_refused_v2_calls_are_recorded_with_the_verified_key(stack: Stack) -> None:
    import openstack.exceptions

    owner = stack.new_account("owner")
    no_delete = stack.new_account("nodelete", deny=(Action.DELETE_IMAGE,))
    conn = connect(stack, owner)
    protected = conn.image.create_image(name="kept", protected=True)
    # The SDK as a user runs it: Glance answers a protected image's delete 403 (the SCP API 409).
    with pytest.raises(openstack.exceptions.HttpException) as refused:
        conn.image.delete_image(protected)
    assert refused.value.status_code == 403
    kept = refused.value.response
    denied_image = connect(stack, no_delete).image.create_image(name="mine")
    with pytest.raises(openstack.exceptions.HttpException) as forbidden:
        connect(stack, no_delete).image.delete_image(denied_image)
    assert forbidden.value.status_code == 403
    denied = forbidden.value.response
    as_owner = V2(stack, owner)
    wrong_media = as_owner(
        "PATCH", f"/images/{protected.id}", 415, json=[], headers={"Content-Type": "text/plain"}
    )

    kept_record = by_request(listed(stack.settings, "--image", protected.id))[kept.headers["X-Request-Id"]]
    assert (kept_record["action"], kept_record["status"], kept_record["error_code"]) == (
        "image.delete",
        403,
        "virtualserver.image.Protected",
    )
    assert (kept_record["account_id"], kept_record["access_key"]) == (owner.account_id, owner.access_key)
    media_record = by_request(listed(stack.settings, "--image", protected.id))[rid(wrong_media)]
    assert (media_record["action"], media_record["status"]) == ("image.update", 415)
    denied_record = by_request(listed(stack.settings, "--image", denied_image.id))[
        denied.headers["X-Request-Id"]
    ]
    assert (denied_record["action"], denied_record["status"], denied_record["error_code"]) == (
        "image.delete",
        403,
        "virtualserver.auth.Forbidden",
    )
    assert (denied_record["account_id"], denied_record["access_key"]) == (
        no_delete.account_id,
        no_delete.access_key,
    )
    assert conn.image.get_image(protected.id).status == "queued"


def test_a_refused_token_is_recorded_without_its_text(stack: Stack) -> None:
    owner = stack.new_account("owner")
    image_id = connect(stack, owner).image.create_image(name="x").id
    forged = token(stack, owner)[:-4] + "AAAA"
    response = stack.http.delete(
        f"{stack.base_url}/image/v2/images/{image_id}", headers={"X-Auth-Token": forged}
    )
    assert response.status_code == 401
    records = listed(stack.settings, "--image", image_id)
    record = by_request(records)[rid(response)]
    assert (record["action"], record["status"], record["account_id"], record["access_key"]) == (
        "image.delete",
        401,
        None,
        None,
    )
    assert forged not in json.dumps(records) and forged.split(".")[1] not in json.dumps(records)
