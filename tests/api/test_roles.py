"""Roles on the SCP edge, from the outside: a reader reads, lists and downloads what its account can and
is refused every change with SCP's envelope (en-US and ko-KR); an admin key has no powers here, it acts as
a member of its own account."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scp_images.domain.principal import Role
from scp_images.services.audit import AuditQuery
from tests.api.helpers import publish
from tests.support.stack import Key, Stack

READER = "virtualserver.auth.ReaderRole"
ZERO = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def team(stack: Stack, make_qcow2: Any) -> tuple[Key, Key, str]:
    """A member and a reader of one account, and an active private image of that account."""
    member = stack.new_account("team")
    reader = stack.new_key(member.account_id, role=Role.READER)
    image = publish(stack, make_qcow2("d.qcow2", "8M"), member.account_id)
    return member, reader, str(image["id"])


def test_a_reader_reads_lists_and_downloads(stack: Stack, team: tuple[Key, Key, str]) -> None:
    member, reader, image_id = team
    assert stack.request("GET", f"/v1/images/{image_id}", reader).status_code == 200
    listed = stack.request("GET", "/v1/images", reader).json()["images"]
    assert [i["id"] for i in listed] == [image_id]
    downloaded = stack.request("GET", f"/v2/images/{image_id}/file", reader)
    assert (
        downloaded.status_code == 200
        and downloaded.content == stack.request("GET", f"/v2/images/{image_id}/file", member).content
    )
    assert stack.request("GET", f"/v1/images/{image_id}/members", reader).status_code == 200
    assert stack.request("GET", "/v1/pending-images", reader).status_code == 200
    assert stack.request("POST", f"/v1/images/{image_id}/download-link", reader).status_code == 200


def _writes(image_id: str, other: str) -> list[tuple[str, str, dict[str, Any]]]:
    image = f"/v1/images/{image_id}"
    return [
        ("POST", "/v1/images", {"json": {"name": "x", "os_distro": "ubuntu", "url": "https://h/x.qcow2"}}),
        ("PUT", image, {"json": {"min_disk": 1}}),
        ("DELETE", image, {}),
        ("POST", f"{image}/import", {"json": {"url": "https://h/x.qcow2"}}),
        ("POST", f"{image}/share", {}),
        ("POST", f"{image}/members", {"json": {"member_id": other}}),
        ("PUT", f"{image}/members/{other}", {"json": {"status": "accepted"}}),
        ("DELETE", f"{image}/members/{other}", {}),
        ("PUT", f"/v2/images/{image_id}/file", {"content": b"x" * 10}),
        ("POST", f"/v1/servers/{ZERO}/images", {"json": {"name": "x"}}),
    ]


def test_a_reader_is_refused_every_change_in_both_languages(stack: Stack, team: tuple[Key, Key, str]) -> None:
    member, reader, image_id = team
    other = stack.new_account("other")
    for method, path, body in _writes(image_id, other.account_id):
        response = stack.request(method, path, reader, **body)
        assert response.status_code == 403, (method, path, response.text)
        (error,) = response.json()["errors"]
        assert error["code"] == READER, (method, path)
        assert "reader role" in error["detail"] and "member role" in error["detail"]  # and what to do
    korean = stack.request("DELETE", f"/v1/images/{image_id}", reader, headers={"Accept-Language": "ko-KR"})
    assert korean.status_code == 403 and "reader 역할" in korean.json()["errors"][0]["detail"]
    # Nothing changed, and the member still may.
    assert stack.request("GET", f"/v1/images/{image_id}", member).json()["min_disk"] == 0
    assert stack.request("PUT", f"/v1/images/{image_id}", member, json={"min_disk": 1}).status_code == 200


def test_the_deny_list_applies_on_top_of_a_readers_role(stack: Stack, team: tuple[Key, Key, str]) -> None:
    member, _, image_id = team
    from scp_images.domain.principal import Action

    denied = stack.new_key(member.account_id, role=Role.READER, deny=(Action.SHOW_IMAGE,))
    refused = stack.request("GET", f"/v1/images/{image_id}", denied)
    assert (
        refused.status_code == 403 and refused.json()["errors"][0]["code"] == "virtualserver.auth.Forbidden"
    )
    assert stack.request("GET", "/v1/images", denied).status_code == 200


def test_an_admin_key_is_a_member_on_the_scp_edge(stack: Stack, make_qcow2: Any, tmp_path: Path) -> None:
    tenant = stack.new_account("tenant")
    private = publish(stack, make_qcow2("p.qcow2", "8M"), tenant.account_id)["id"]
    admin = stack.new_account("ops", role=Role.ADMIN, operator=True)
    assert stack.request("GET", f"/v1/images/{private}", admin).status_code == 404
    assert private not in [i["id"] for i in stack.request("GET", "/v1/images", admin).json()["images"]]
    assert stack.request("DELETE", f"/v1/images/{private}", admin).status_code == 404
    assert stack.request("GET", f"/v1/images/{private}", tenant).status_code == 200  # still there
    # Its own account's images it changes as a member does.
    own = publish(stack, make_qcow2("o.qcow2", "8M"), admin.account_id)["id"]
    assert stack.request("PUT", f"/v1/images/{own}", admin, json={"min_disk": 2}).status_code == 200
    records = stack.components.audit.list(AuditQuery(account_id=admin.account_id))
    assert {r.role for r in records if r.action == "image.update"} == {"member"}
