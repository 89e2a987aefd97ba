"""Roles on keys through the OpenStack edge: the token lists the key's role with the roles it implies
(as Keystone's defaults), and the role is read from the key's row, never from the token."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from scp_images.domain.principal import Role
from scp_images.domain.quotas import Overrides
from scp_images.services.audit import AuditQuery
from tests.openstack.conftest import connect, token
from tests.openstack.test_sdk import put_file
from tests.support.stack import Key, Stack
from tests.support.tools import wait_until


def _token_roles(stack: Stack, value: str) -> list[str]:
    headers = {"X-Auth-Token": value, "X-Subject-Token": value}
    response = stack.http.get(f"{stack.base_url}/identity/v3/auth/tokens", headers=headers)
    assert response.status_code == 200, response.text
    return [role["name"] for role in response.json()["token"]["roles"]]


@pytest.mark.parametrize(
    ("role", "listed"),
    [
        (Role.READER, ["reader"]),
        (Role.MEMBER, ["member", "reader"]),
        (Role.ADMIN, ["admin", "member", "reader"]),
    ],
)
def test_the_token_lists_the_role_and_the_roles_it_implies(
    stack: Stack, role: Role, listed: list[str]
) -> None:
    key = stack.new_account("ops", role=role, operator=role is Role.ADMIN)
    assert _token_roles(stack, token(stack, key)) == listed


def test_a_tokens_roles_follow_the_keys_row(stack: Stack) -> None:
    """A token issued to a member shows reader once the key is made a reader: nothing is in the token."""
    key = stack.new_account("team")
    value = token(stack, key)
    assert _token_roles(stack, value) == ["member", "reader"]
    stack.set_role(key, Role.READER)
    wait_until(lambda: _token_roles(stack, value) == ["reader"], what="the new role", timeout=10)


# --- reader --------------------------------------------------------------------------------------

PATCH = "application/openstack-images-v2.1-json-patch"


class V2:
    """Raw v2 calls with one key's token."""

    def __init__(self, stack: Stack, key: Key) -> None:
        self.stack = stack
        self.headers = {"X-Auth-Token": token(stack, key)}

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.stack.http.request(
            method, f"{self.stack.base_url}/image/v2{path}", headers=headers, **kwargs
        )


@pytest.fixture
def team(stack: Stack, qcow2_bytes: bytes) -> tuple[Key, Key, str]:
    """A member and a reader of one account, and an active shared image of that account."""
    member = stack.new_account("team")
    reader = stack.new_key(member.account_id, role=Role.READER)
    conn = connect(stack, member)
    image = conn.image.create_image(name="team-image", disk_format="qcow2", container_format="bare")
    put_file(conn, image.id, qcow2_bytes)
    return member, reader, image.id


def _assert_reader_refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]  # Glance's form
    assert error["code"] == 403 and "reader role" in error["message"], error


def test_a_reader_reads_lists_and_downloads_on_v2(
    stack: Stack, team: tuple[Key, Key, str], qcow2_bytes: bytes
) -> None:
    _, reader, image_id = team
    conn = connect(stack, reader)
    assert conn.image.get_image(image_id).name == "team-image"
    assert [i.id for i in conn.image.images()] == [image_id]
    assert conn.image.download_image(conn.image.get_image(image_id)).content == qcow2_bytes
    assert list(conn.image.members(image_id)) == []


def test_a_reader_is_refused_every_change_on_v2(stack: Stack, team: tuple[Key, Key, str]) -> None:
    import openstack.exceptions

    member, reader, image_id = team
    other = stack.new_account("other")
    v2 = V2(stack, reader)
    image = f"/images/{image_id}"
    patch = [{"op": "replace", "path": "/name", "value": "x"}]
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/images", {"json": {"name": "x"}}),
        ("PATCH", image, {"json": patch, "headers": {"Content-Type": PATCH}}),
        ("DELETE", image, {}),
        ("PUT", f"{image}/file", {"content": b"x", "headers": {"Content-Type": "application/octet-stream"}}),
        ("PUT", f"{image}/stage", {"content": b"x", "headers": {"Content-Type": "application/octet-stream"}}),
        ("POST", f"{image}/import", {"json": {"method": {"name": "glance-direct"}}}),
        ("POST", f"{image}/members", {"json": {"member": other.account_id}}),
        ("PUT", f"{image}/members/{other.account_id}", {"json": {"status": "accepted"}}),
        ("DELETE", f"{image}/members/{other.account_id}", {}),
        ("PUT", f"{image}/tags/gold", {}),
        ("DELETE", f"{image}/tags/gold", {}),
        ("POST", f"{image}/actions/deactivate", {}),
        ("POST", f"{image}/actions/reactivate", {}),
    ]
    for method, path, kwargs in calls:
        _assert_reader_refused(v2(method, path, **kwargs))
    with pytest.raises(openstack.exceptions.ForbiddenException):
        connect(stack, reader).image.create_image(name="x", disk_format="qcow2", container_format="bare")
    shown = connect(stack, member).image.get_image(image_id)
    assert (shown.name, shown.status, shown.tags) == ("team-image", "active", [])  # nothing changed


def test_a_role_is_never_taken_from_a_token(stack: Stack) -> None:
    """A token issued to a member writes as long as its key is a member; made a reader, the same token
    is refused the next write; made a member again, it writes again."""
    key = stack.new_account("team")
    v2 = V2(stack, key)
    nowhere = "/images/00000000-0000-4000-8000-000000000000"  # a write that changes nothing: 404 or 403

    def refused() -> bool:
        return v2("DELETE", nowhere).status_code == 403

    assert v2("POST", "/images", json={"name": "before"}).status_code == 201
    stack.set_role(key, Role.READER)
    wait_until(refused, what="the reader role")  # within the key cache's seconds
    _assert_reader_refused(v2("POST", "/images", json={"name": "x"}))
    assert v2("GET", "/images").status_code == 200  # the same token still reads
    stack.set_role(key, Role.MEMBER)
    wait_until(lambda: not refused(), what="the member role again")
    assert v2("POST", "/images", json={"name": "after"}).status_code == 201
    assert sorted(i["name"] for i in v2("GET", "/images").json()["images"]) == ["after", "before"]


# --- admin ---------------------------------------------------------------------------------------


@pytest.fixture
def tenants(stack: Stack, qcow2_bytes: bytes) -> dict[str, Any]:
    """Two tenant accounts: an active private image of one, a queued shared image of the other."""
    one, two = stack.new_account("one"), stack.new_account("two")
    conn = connect(stack, one)
    private = conn.image.create_image(name="one-private", visibility="private", disk_format="qcow2")
    put_file(conn, private.id, qcow2_bytes)
    shared = connect(stack, two).image.create_image(name="two-shared", disk_format="qcow2")
    return {"one": one, "two": two, "private": private.id, "shared": shared.id}


def test_an_admin_sees_and_downloads_every_accounts_images(
    stack: Stack, tenants: dict[str, Any], qcow2_bytes: bytes
) -> None:
    admin = stack.new_account("ops", role=Role.ADMIN, operator=True)
    conn = connect(stack, admin)
    assert conn.image.get_image(tenants["private"]).owner == tenants["one"].account_id
    listed = {i.id for i in conn.image.images()}
    assert {tenants["private"], tenants["shared"]} <= listed
    mine = {i.id for i in connect(stack, tenants["two"]).image.images()}
    assert tenants["private"] not in mine  # a tenant still sees only its own
    owned = {i.id for i in conn.image.images(owner=tenants["one"].account_id)}
    assert owned == {tenants["private"]}
    assert conn.image.download_image(conn.image.get_image(tenants["private"])).content == qcow2_bytes


def test_admin_lists_others_community_images_only_when_asked(stack: Stack, tenants: dict[str, Any]) -> None:
    admin = stack.new_account("ops", role=Role.ADMIN, operator=True)
    v2 = V2(stack, admin)
    # An admin makes a tenant's image community (Glance's admin may; a tenant may not here).
    patch = [{"op": "replace", "path": "/visibility", "value": "community"}]
    patched = v2("PATCH", f"/images/{tenants['shared']}", json=patch, headers={"Content-Type": PATCH})
    assert patched.status_code == 200 and patched.json()["visibility"] == "community"

    def ids(query: str) -> set[str]:
        return {i["id"] for i in v2("GET", f"/images{query}").json()["images"]}

    assert tenants["shared"] not in ids("")  # Glance: another account's community image needs asking
    assert tenants["shared"] in ids("?visibility=all")
    assert ids("?visibility=community") == {tenants["shared"]}
    assert ids("?visibility=private") == {tenants["private"]}


def test_an_admin_changes_deactivates_and_deletes_any_image(
    stack: Stack, tenants: dict[str, Any], qcow2_bytes: bytes
) -> None:
    admin = stack.new_account("ops", role=Role.ADMIN, operator=True)
    conn = connect(stack, admin)
    image_id = tenants["private"]
    updated = conn.image.update_image(image_id, name="renamed-by-admin", min_ram=256)
    assert (updated.name, updated.owner) == ("renamed-by-admin", tenants["one"].account_id)
    conn.image.deactivate_image(image_id)
    owner = connect(stack, tenants["one"])
    assert owner.image.get_image(image_id).status == "deactivated"
    # Glance: only an admin downloads a deactivated image's bytes.
    assert conn.image.download_image(conn.image.get_image(image_id)).content == qcow2_bytes
    refused = V2(stack, tenants["one"])("GET", f"/images/{image_id}/file")
    assert refused.status_code == 403
    conn.image.reactivate_image(image_id)
    assert owner.image.get_image(image_id).status == "active"
    conn.image.add_tag(image_id, "checked")
    conn.image.delete_image(image_id)
    assert V2(stack, tenants["one"])("GET", f"/images/{image_id}").status_code == 404

    records = stack.components.audit.list(AuditQuery(image_id=image_id))
    by_action = {r.action: r for r in records}
    for action in ("image.update", "image.deactivate", "image.reactivate", "image.delete"):
        assert by_action[action].role == "admin", action
        assert by_action[action].access_key == admin.access_key


def test_an_admin_creates_public_images_and_a_member_may_not(stack: Stack) -> None:
    admin = stack.new_account("ops", role=Role.ADMIN, operator=True)
    public = V2(stack, admin)("POST", "/images", json={"name": "golden", "visibility": "public"})
    assert public.status_code == 201 and public.json()["visibility"] == "public"
    member = stack.new_account("tenant")
    refused = V2(stack, member)("POST", "/images", json={"name": "mine", "visibility": "public"})
    assert refused.status_code == 400 and "visibility public" in refused.json()["error"]["message"]
    assert public.json()["id"] in {i.id for i in connect(stack, member).image.images()}


def test_an_admin_keys_refusals_and_a_members_records_say_their_role(stack: Stack) -> None:
    member = stack.new_account("tenant")
    reader = stack.new_key(member.account_id, role=Role.READER)
    created = V2(stack, member)("POST", "/images", json={"name": "m"}).json()["id"]
    V2(stack, reader)("DELETE", f"/images/{created}")
    records = stack.components.audit.list(AuditQuery(image_id=created))
    roles = {(r.action, r.status): r.role for r in records}
    assert roles == {("image.create", 201): "member", ("image.delete", 403): "reader"}


# --- an admin gives images to other projects (Glance's owner on create and patch) -----------------

DRAFT_4 = "application/openstack-images-v2.0-json-patch"
_NO_ACCOUNT = "feedc0de" * 4  # a project id that is no account here


@pytest.mark.parametrize("form", [PATCH, DRAFT_4])
def test_an_admin_creates_for_and_gives_images_to_other_projects(stack: Stack, form: str) -> None:
    admin = stack.new_account("ops", role=Role.ADMIN, operator=True)
    old, new = stack.new_account("old"), stack.new_account("new")
    v2 = V2(stack, admin)
    body = {"container_format": "bare", "disk_format": "raw", "owner": old.account_id, "name": "given"}
    created = v2("POST", "/images", json=body)
    assert created.status_code == 201 and created.json()["owner"] == old.account_id
    image_id = created.json()["id"]
    assert V2(stack, old)("GET", f"/images/{image_id}").status_code == 200
    assert stack.client(old).images.show(image_id).owner_account_name == "old"

    op = {"op": "replace", "path": "/owner"} if form == PATCH else {"replace": "/owner"}
    given = v2(
        "PATCH", f"/images/{image_id}", json=[{**op, "value": new.account_id}], headers={"Content-Type": form}
    )
    assert given.status_code == 200 and given.json()["owner"] == new.account_id

    # The new owner sees and manages it (SCP Show too); the old owner no longer sees it.
    new_v2 = V2(stack, new)
    renamed = [{"op": "replace", "path": "/name", "value": "mine-now"}]
    patched = new_v2("PATCH", f"/images/{image_id}", json=renamed, headers={"Content-Type": PATCH})
    assert patched.status_code == 200 and patched.json()["name"] == "mine-now"
    shown = stack.client(new).images.show(image_id)
    assert (shown.owner, shown.owner_account_name, shown.owner_user_name) == (new.account_id, "new", None)
    assert image_id in {i.id for i in connect(stack, new).image.images()}
    assert V2(stack, old)("GET", f"/images/{image_id}").status_code == 404
    assert image_id not in {i.id for i in connect(stack, old).image.images()}

    records = stack.components.audit.list(AuditQuery(image_id=image_id))
    change = next(r for r in records if r.action == "image.update" and r.access_key == admin.access_key)
    assert change.role == "admin" and f"owner={new.account_id}" in (change.detail or "")
    assert new_v2("DELETE", f"/images/{image_id}").status_code == 204


def test_an_admin_gives_an_image_to_a_project_that_is_no_account(stack: Stack) -> None:
    """Glance does not check the project: nor does this service; nothing breaks on such an owner."""
    admin = stack.new_account("ops", role=Role.ADMIN, operator=True)
    tenant = stack.new_account("tenant")
    v2 = V2(stack, admin)
    created = v2("POST", "/images", json={"name": "orphan", "owner": _NO_ACCOUNT})
    assert created.status_code == 201 and created.json()["owner"] == _NO_ACCOUNT
    image_id = created.json()["id"]
    assert v2("GET", f"/images/{image_id}").json()["owner"] == _NO_ACCOUNT
    assert image_id in {i["id"] for i in v2("GET", f"/images?owner={_NO_ACCOUNT}").json()["images"]}
    assert v2("GET", f"/images/{image_id}/members").status_code < 500  # members stay the owner's
    shown = stack.request("GET", f"/v1/images/{image_id}", admin)  # SCP: an admin acts as a member there
    assert shown.status_code == 404

    # Given on to a real tenant, and back to no account, by patch.
    mine = [{"replace": "/owner", "value": tenant.account_id}]
    assert v2("PATCH", f"/images/{image_id}", json=mine, headers={"Content-Type": DRAFT_4}).status_code == 200
    assert stack.client(tenant).images.show(image_id).owner_account_name == "tenant"
    away = [{"op": "replace", "path": "/owner", "value": _NO_ACCOUNT}]
    moved = v2("PATCH", f"/images/{image_id}", json=away, headers={"Content-Type": PATCH})
    assert moved.status_code == 200 and moved.json()["owner"] == _NO_ACCOUNT
    assert V2(stack, tenant)("GET", f"/images/{image_id}").status_code == 404
    assert v2("DELETE", f"/images/{image_id}").status_code == 204


@pytest.mark.parametrize("owner", ["not-a-project", "FEEDC0DE" * 4, 5, ""])
def test_an_admins_owner_must_be_a_project_id(stack: Stack, owner: Any) -> None:
    admin = stack.new_account("ops", role=Role.ADMIN, operator=True)
    v2 = V2(stack, admin)
    refused = v2("POST", "/images", json={"name": "bad", "owner": owner})
    assert refused.status_code == 400, refused.text
    image_id = v2("POST", "/images", json={"name": "ok"}).json()["id"]
    patch = [{"op": "replace", "path": "/owner", "value": owner}]
    bad = v2("PATCH", f"/images/{image_id}", json=patch, headers={"Content-Type": PATCH})
    assert bad.status_code == 400, bad.text
    assert v2("GET", f"/images/{image_id}").json()["owner"] == admin.account_id


def test_a_given_image_counts_to_its_new_owners_image_limit(stack: Stack) -> None:
    admin = stack.new_account("ops", role=Role.ADMIN, operator=True)
    full = stack.new_account("full")
    stack.components.quotas.set(full.account_id, Overrides(images=1))
    v2 = V2(stack, admin)
    assert v2("POST", "/images", json={"name": "one", "owner": full.account_id}).status_code == 201
    over = v2("POST", "/images", json={"name": "two", "owner": full.account_id})
    assert over.status_code == 413, over.text
    image_id = v2("POST", "/images", json={"name": "admins"}).json()["id"]
    patch = [{"op": "replace", "path": "/owner", "value": full.account_id}]
    refused = v2("PATCH", f"/images/{image_id}", json=patch, headers={"Content-Type": PATCH})
    assert refused.status_code == 413, refused.text
    assert v2("GET", f"/images/{image_id}").json()["owner"] == admin.account_id


def test_a_member_still_may_not_name_or_change_the_owner(stack: Stack) -> None:
    member, other = stack.new_account("tenant"), stack.new_account("other")
    v2 = V2(stack, member)
    refused = v2("POST", "/images", json={"name": "x", "owner": other.account_id})
    assert refused.status_code == 403 and other.account_id in refused.json()["error"]["message"]
    image_id = v2("POST", "/images", json={"name": "x", "owner": member.account_id}).json()["id"]
    for form, op in ((PATCH, {"op": "replace", "path": "/owner"}), (DRAFT_4, {"replace": "/owner"})):
        patch = [{**op, "value": other.account_id}]
        answer = v2("PATCH", f"/images/{image_id}", json=patch, headers={"Content-Type": form})
        assert answer.status_code == 403 and "Owner can't be updated by non admin." in answer.text
    assert v2("GET", f"/images/{image_id}").json()["owner"] == member.account_id
