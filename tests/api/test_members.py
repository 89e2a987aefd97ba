"""Sharing over HTTP: members, their answers, pending images, share, and who may do what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.helpers import publish
from tests.support.stack import Key, Stack


@pytest.fixture
def accounts(stack: Stack) -> tuple[Key, Key, Key]:
    return stack.new_account("owner"), stack.new_account("member"), stack.new_account("stranger")


@pytest.fixture
def image(stack: Stack, accounts: Any, make_qcow2: Any) -> str:
    owner = accounts[0]
    return str(publish(stack, make_qcow2("shared.qcow2", "16M"), owner.account_id, "private")["id"])


def members_path(image_id: str, member: str | None = None) -> str:
    return f"/v1/images/{image_id}/members" + (f"/{member}" if member else "")


def test_two_accounts_end_to_end(stack: Stack, accounts: Any, image: str, make_qcow2: Any) -> None:
    owner, member, stranger = accounts
    # members need visibility shared; share makes it so
    refused = stack.request("POST", members_path(image), owner, json={"member_id": member.account_id})
    assert refused.status_code == 409
    share = stack.request(
        "POST", f"/v1/images/{image}/share", owner, content=b"", headers={"Content-Length": "0"}
    )
    assert share.status_code == 202 and share.content == b""
    assert stack.request("GET", f"/v1/images/{image}", owner).json()["visibility"] == "shared"
    added = stack.request("POST", members_path(image), owner, json={"member_id": member.account_id})
    assert added.status_code == 200, added.text
    assert set(added.json()) == {"created_at", "image_id", "member_id", "status", "updated_at"}
    assert added.json()["status"] == "pending"
    again = stack.request("POST", members_path(image), owner, json={"member_id": member.account_id})
    assert again.status_code == 409
    # the member sees it pending, not in its list yet, and can read it
    pending = stack.request("GET", "/v1/pending-images", member).json()["images"]
    assert [i["id"] for i in pending] == [image]
    listed = stack.request("GET", "/v1/images", member).json()["images"]
    assert image not in [i["id"] for i in listed]
    assert stack.request("GET", f"/v1/images/{image}", member).status_code == 200
    # only the member answers
    owner_try = stack.request(
        "PUT", members_path(image, member.account_id), owner, json={"status": "accepted"}
    )
    assert owner_try.status_code == 403
    accepted = stack.request(
        "PUT", members_path(image, member.account_id), member, json={"status": "accepted"}
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert stack.request("GET", "/v1/pending-images", member).json()["images"] == []
    listed = stack.request("GET", "/v1/images", member).json()["images"]
    assert image in [i["id"] for i in listed]
    shared_only = stack.request("GET", "/v1/images", member, params={"visibility": "shared"}).json()["images"]
    assert [i["id"] for i in shared_only] == [image]
    download = stack.request("GET", f"/v2/images/{image}/file", member)
    assert download.status_code == 200 and len(download.content) > 0
    # a member may read but not change
    assert stack.request("PUT", f"/v1/images/{image}", member, json={"min_ram": 1}).status_code == 403
    assert stack.request("DELETE", f"/v1/images/{image}", member).status_code == 403
    # member listing: owner sees all, member sees itself, stranger sees nothing
    assert len(stack.request("GET", members_path(image), owner).json()["members"]) == 1
    mine = stack.request("GET", members_path(image), member).json()["members"]
    assert [m["member_id"] for m in mine] == [member.account_id]
    assert stack.request("GET", members_path(image), stranger).status_code == 404
    assert stack.request("GET", f"/v1/images/{image}", stranger).status_code == 404
    # owner revokes: the member gets 404
    assert stack.request("DELETE", members_path(image, member.account_id), owner).status_code == 204
    assert stack.request("GET", f"/v1/images/{image}", member).status_code == 404
    assert stack.request("GET", f"/v2/images/{image}/file", member).status_code == 404


def test_visibility_private_suspends_and_shared_restores_access(
    stack: Stack, accounts: Any, image: str
) -> None:
    owner, member, _ = accounts
    stack.request("PUT", f"/v1/images/{image}", owner, json={"visibility": "shared"})
    stack.request("POST", members_path(image), owner, json={"member_id": member.account_id})
    stack.request("PUT", members_path(image, member.account_id), member, json={"status": "accepted"})
    stack.request("PUT", f"/v1/images/{image}", owner, json={"visibility": "private"})
    assert stack.request("GET", f"/v1/images/{image}", member).status_code == 404
    assert len(stack.request("GET", members_path(image), owner).json()["members"]) == 1
    stack.request("PUT", f"/v1/images/{image}", owner, json={"visibility": "shared"})
    assert stack.request("GET", f"/v1/images/{image}", member).status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"member_id": "0" * 32}, 404),
        ({"member_id": "bad id!"}, 400),
        ({"member_id": ""}, 400),
        ({"member_id": "a", "extra": 1}, 400),
        ({}, 400),
    ],
)
def test_member_create_validation(
    stack: Stack, accounts: Any, image: str, body: dict[str, Any], status: int
) -> None:
    owner = accounts[0]
    stack.request("PUT", f"/v1/images/{image}", owner, json={"visibility": "shared"})
    assert stack.request("POST", members_path(image), owner, json=body).status_code == status


def test_owner_cannot_be_a_member_and_bad_status_is_400(stack: Stack, accounts: Any, image: str) -> None:
    owner, member, _ = accounts
    stack.request("PUT", f"/v1/images/{image}", owner, json={"visibility": "shared"})
    assert (
        stack.request("POST", members_path(image), owner, json={"member_id": owner.account_id}).status_code
        == 409
    )
    stack.request("POST", members_path(image), owner, json={"member_id": member.account_id})
    bad = stack.request("PUT", members_path(image, member.account_id), member, json={"status": "maybe"})
    assert bad.status_code == 400


def test_share_needs_an_active_own_image(stack: Stack, accounts: Any, image: str) -> None:
    owner, member, _ = accounts
    assert stack.request("POST", f"/v1/images/{image}/share", member).status_code == 404
    queued = stack.request(
        "POST", "/v1/images", owner, params={"source": "upload"}, json={"name": "q", "os_distro": "rocky"}
    ).json()
    assert stack.request("POST", f"/v1/images/{queued['id']}/share", owner).status_code == 409


def test_deleting_an_image_deletes_its_memberships(
    stack: Stack, accounts: Any, image: str, tmp_path: Path
) -> None:
    owner, member, _ = accounts
    stack.request("PUT", f"/v1/images/{image}", owner, json={"visibility": "shared"})
    stack.request("POST", members_path(image), owner, json={"member_id": member.account_id})
    assert stack.request("DELETE", f"/v1/images/{image}", owner).status_code == 204
    assert stack.request("GET", "/v1/pending-images", member).json()["images"] == []
    from sqlalchemy import func, select

    from scp_images.store.sql.tables import image_members

    with stack.components.db.transaction() as conn:
        assert conn.execute(select(func.count()).select_from(image_members)).scalar_one() == 0


def test_member_responses_in_every_version(stack: Stack, accounts: Any, image: str) -> None:
    owner, member, _ = accounts
    stack.request("PUT", f"/v1/images/{image}", owner, json={"visibility": "shared"})
    stack.request("POST", members_path(image), owner, json={"member_id": member.account_id})
    for version in ("1.0", "1.1", "1.2", "1.3"):
        shown = stack.request("GET", members_path(image, member.account_id), owner, version=version)
        assert set(shown.json()) == {"created_at", "image_id", "member_id", "status", "updated_at"}
        pending = stack.request("GET", "/v1/pending-images", member, version=version).json()["images"][0]
        assert ("scp_gpu_driver" in pending) == (version in ("1.2", "1.3"))
