"""Glance's rules on the v2 edge, from the outside (raw HTTP, openstacksdk, glanceclient): PATCH in both
media types (Tempest's client sends the draft-4 form), the reserved ``os_glance`` namespace and the
read-only attributes on create and patch, and the one store (``/v2/info/stores``, an image's ``stores``)."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest

from scp_images.domain.principal import Role
from tests.openstack.conftest import connect, glance, token
from tests.openstack.test_sdk import put_file
from tests.support.stack import Key, Stack

V20 = "application/openstack-images-v2.0-json-patch"
V21 = "application/openstack-images-v2.1-json-patch"
LOCAL = {"id": "local", "description": "Image data on this service's filesystem store", "default": "true"}


def _call(stack: Stack, tok: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"X-Auth-Token": tok, **kwargs.pop("headers", {})}
    return stack.http.request(method, f"{stack.base_url}/image{path}", headers=headers, **kwargs)


def _patch(
    stack: Stack, tok: str, image_id: str, media: str, ops: list[Any], **headers: str
) -> httpx.Response:
    return _call(
        stack, tok, "PATCH", f"/v2/images/{image_id}", json=ops, headers={"Content-Type": media, **headers}
    )


@pytest.fixture
def owner(stack: Stack) -> tuple[Key, str]:
    key = stack.new_account("alpha")
    return key, token(stack, key)


def _image(stack: Stack, tok: str, **body: Any) -> dict[str, Any]:
    response = _call(stack, tok, "POST", "/v2/images", json={"name": "img", "disk_format": "raw", **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


# --- PATCH media types ---------------------------------------------------------------------------


def test_the_draft_4_form_patches_as_tempest_sends_it(stack: Stack, owner: tuple[Key, str]) -> None:
    tok = owner[1]
    image = _image(stack, tok, hw_disk_bus="virtio")
    ops = [
        {"replace": "/name", "value": "renamed"},
        {"add": "/hw_new", "value": "1"},
        {"remove": "/hw_disk_bus"},
        {"replace": "/protected", "value": True},
    ]
    response = _patch(stack, tok, image["id"], V20, ops)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["hw_new"], body["protected"]) == ("renamed", "1", True)
    assert "hw_disk_bus" not in body
    # Tempest's clean-up of a protected image: the same form turns protection off again.
    assert (
        _patch(stack, tok, image["id"], V20, [{"replace": "/protected", "value": False}]).status_code == 200
    )
    assert _call(stack, tok, "DELETE", f"/v2/images/{image['id']}").status_code == 204


def test_draft_4_add_only_creates_where_rfc_6902_add_replaces(stack: Stack, owner: tuple[Key, str]) -> None:
    tok = owner[1]
    image = _image(stack, tok, hw_x="1")
    refused = _patch(stack, tok, image["id"], V20, [{"add": "/hw_x", "value": "2"}])
    assert refused.status_code == 409, refused.text
    assert "Property hw_x already present." in refused.json()["error"]["message"]
    replaced = _patch(stack, tok, image["id"], V21, [{"op": "add", "path": "/hw_x", "value": "2"}])
    assert replaced.json()["hw_x"] == "2"


def test_another_media_type_is_415_naming_both_in_accept_patch(stack: Stack, owner: tuple[Key, str]) -> None:
    tok = owner[1]
    image = _image(stack, tok)
    for media in ("application/json", "application/json-patch+json", "text/plain"):
        response = _patch(stack, tok, image["id"], media, [{"op": "replace", "path": "/name", "value": "x"}])
        assert response.status_code == 415, response.text
        assert response.headers["Accept-Patch"] == f"{V20}, {V21}"
        assert response.json()["error"]["code"] == 415
        assert V20 in response.json()["error"]["message"]
    assert _call(stack, tok, "GET", f"/v2/images/{image['id']}").json()["name"] == "img"


@pytest.mark.parametrize(
    ("media", "ops"),
    [
        (V20, [{"op": "replace", "path": "/name", "value": "x"}]),  # the other form's objects
        (V21, [{"replace": "/name", "value": "x"}]),
        (V20, [{"replace": "/name"}]),
        (V20, [{"add": "/a/b", "value": "x"}]),
        (V20, [{"add": "name", "value": "x"}]),
        (V20, [{"replace": "/name", "value": "ok"}, {"replace": "/min_ram", "value": "many"}]),
        (V20, {"replace": "/name", "value": "x"}),
    ],
)
def test_malformed_patches_are_400_and_change_nothing(
    stack: Stack, owner: tuple[Key, str], media: str, ops: Any
) -> None:
    tok = owner[1]
    image = _image(stack, tok)
    response = _patch(stack, tok, image["id"], media, ops)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == 400
    assert _call(stack, tok, "GET", f"/v2/images/{image['id']}").json()["name"] == "img"


# --- reserved and read-only names ----------------------------------------------------------------


def test_os_glance_properties_are_reserved_on_create(stack: Stack, owner: tuple[Key, str]) -> None:
    tok = owner[1]
    for name in ("os_glance_foo", "os_glance_import_task", "os_glance_failed_import", "os_glancex"):
        response = _call(stack, tok, "POST", "/v2/images", json={"name": "n", name: "bar"})
        assert response.status_code == 403, response.text
        assert response.json()["error"]["message"].startswith(f"Attribute '{name}' is reserved.")
    assert _call(stack, tok, "GET", "/v2/images").json()["images"] == []


@pytest.mark.parametrize(
    ("media", "op"),
    [
        (V20, {"add": "/os_glance_foo", "value": "bar"}),  # Tempest's test_update_image_reserved_property
        (V21, {"op": "add", "path": "/os_glance_foo", "value": "bar"}),
        (V21, {"op": "replace", "path": "/os_glance_stage_host", "value": "http://evil"}),
        (V21, {"op": "remove", "path": "/os_glance_importing_to_stores"}),
        (V20, {"add": "/deleted", "value": "True"}),
    ],
)
def test_os_glance_properties_are_reserved_on_patch(
    stack: Stack, owner: tuple[Key, str], media: str, op: dict[str, Any]
) -> None:
    tok = owner[1]
    image = _image(stack, tok)
    response = _patch(
        stack, tok, image["id"], media, [{"replace": "/name", "value": "x"}, op] if media == V20 else [op]
    )
    assert response.status_code == 403, response.text
    assert "is reserved." in response.json()["error"]["message"]
    shown = _call(stack, tok, "GET", f"/v2/images/{image['id']}").json()
    assert shown["name"] == "img" and not any(k.startswith("os_glance") for k in shown)


def test_the_refusal_is_korean_under_ko_kr(stack: Stack, owner: tuple[Key, str]) -> None:
    tok = owner[1]
    image = _image(stack, tok)
    response = _patch(
        stack,
        tok,
        image["id"],
        V20,
        [{"add": "/os_glance_foo", "value": "b"}],
        **{"Accept-Language": "ko-KR"},
    )
    assert response.status_code == 403
    assert "'os_glance_foo'은(는) 예약되어 있습니다" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"status": "active"}, 403, "Attribute 'status' is read-only."),
        ({"checksum": "0" * 32}, 403, "Attribute 'checksum' is read-only."),
        ({"os_hash_value": "ab"}, 403, "Attribute 'os_hash_value' is read-only."),
        ({"self": "/v2/images/x"}, 403, "Attribute 'self' is read-only."),
        ({"stores": "local"}, 403, "Attribute 'stores' is read-only."),
        ({"direct_url": "file:///etc/passwd"}, 403, "Attribute 'direct_url' is read-only."),
        ({"locations": []}, 403, "Attribute 'locations' is reserved."),
        ({"id": "0b1f7a40-2c0e-4f57-9d2b-5c8d3e1a9f0"}, 400, "id must be a UUID"),  # Tempest: 35 characters
        ({"id": "0b1f7a40-2c0e-4f57-9d2b-5c8d3e1a9f000"}, 400, "id must be a UUID"),  # and 37
        ({"status": "sleeping"}, 400, "status must be one of"),
        (
            {"owner": "another-project"},
            403,
            "You are not permitted to create images owned by 'another-project'.",
        ),
    ],
)
def test_read_only_attributes_on_create_as_glance(
    stack: Stack, owner: tuple[Key, str], body: dict[str, Any], status: int, text: str
) -> None:
    response = _call(stack, owner[1], "POST", "/v2/images", json={"name": "n", **body})
    assert response.status_code == status, response.text
    assert text in response.json()["error"]["message"]


def test_a_create_may_name_its_own_project_as_owner(stack: Stack, owner: tuple[Key, str]) -> None:
    tok = owner[1]
    project = _image(stack, tok)["owner"]
    assert _image(stack, tok, owner=project)["owner"] == project


@pytest.mark.parametrize(
    ("op", "status", "text"),
    [
        ({"replace": "/checksum", "value": "x"}, 403, "Attribute 'checksum' is read-only."),
        ({"replace": "/id", "value": "x"}, 403, "Attribute 'id' is read-only."),
        ({"add": "/stores", "value": "s3"}, 403, "Attribute 'stores' is read-only."),
        ({"replace": "/owner", "value": "another"}, 403, "Owner can't be updated by non admin."),
        ({"remove": "/owner"}, 403, "Property owner may not be removed."),
        ({"remove": "/name"}, 403, "Property name may not be removed."),
        (
            {"add": "/locations/-", "value": {"url": "http://x", "metadata": {}}},
            403,
            "locations are invisible",
        ),
        ({"replace": "/hw_absent", "value": "x"}, 409, "Property hw_absent does not exist."),
        ({"remove": "/hw_absent"}, 409, "Property hw_absent does not exist."),
    ],
)
def test_patch_refusals_as_glance(
    stack: Stack, owner: tuple[Key, str], op: dict[str, Any], status: int, text: str
) -> None:
    tok = owner[1]
    image = _image(stack, tok)
    response = _patch(stack, tok, image["id"], V20, [op])
    assert response.status_code == status, response.text
    assert text in response.json()["error"]["message"]


# --- the store -----------------------------------------------------------------------------------


def test_info_stores_names_the_one_store_and_its_detail_is_for_admins(
    stack: Stack, owner: tuple[Key, str]
) -> None:
    tok = owner[1]
    stores = _call(stack, tok, "GET", "/v2/info/stores")
    assert stores.status_code == 200
    assert stores.json() == {
        "stores": [
            {"id": "local", "description": "Image data on this service's filesystem store", "default": "true"}
        ]
    }
    detail = _call(stack, tok, "GET", "/v2/info/stores/detail")
    assert detail.status_code == 403, detail.text
    assert "admin role" in detail.json()["error"]["message"]
    assert _call(stack, "not-a-token", "GET", "/v2/info/stores").status_code == 401
    assert _call(stack, tok, "POST", "/v2/info/stores").status_code == 405


def test_an_active_image_names_its_store(stack: Stack, owner: tuple[Key, str]) -> None:
    key, tok = owner
    image = _image(stack, tok)
    assert "stores" not in image
    put_file(connect(stack, key), image["id"], b"\x00" * 4096)
    shown = _call(stack, tok, "GET", f"/v2/images/{image['id']}").json()
    assert (shown["status"], shown["stores"]) == ("active", "local")
    listed = _call(stack, tok, "GET", "/v2/images").json()["images"]
    assert [i.get("stores") for i in listed] == ["local"]
    schema = _call(stack, tok, "GET", "/v2/schemas/image").json()["properties"]["stores"]
    assert schema["type"] == "string" and schema["readOnly"] is True


def test_versions_leave_out_the_cache_apis(stack: Stack) -> None:
    versions = stack.http.get(f"{stack.base_url}/image/versions").json()["versions"]
    ids = [v["id"] for v in versions]
    assert "v2.14" not in ids and "v2.16" not in ids and {"v2.15", "v2.8", "v2.0"} <= set(ids)
    assert [v["id"] for v in versions if v["status"] == "CURRENT"] == ["v2.17"]


# --- the clients ---------------------------------------------------------------------------------


def test_openstacksdk_meets_the_reserved_namespace_and_the_store(stack: Stack) -> None:
    import openstack.exceptions

    key = stack.new_account("alpha")
    conn = connect(stack, key)
    with pytest.raises(openstack.exceptions.ForbiddenException, match="is reserved"):
        conn.image.create_image(name="r", disk_format="raw", container_format="bare", os_glance_foo="bar")
    image = conn.image.create_image(name="ok", disk_format="raw", container_format="bare")
    with pytest.raises(openstack.exceptions.ForbiddenException, match="is reserved"):
        conn.image.update_image(image, os_glance_foo="bar")
    conn.image.update_image(conn.image.get_image(image.id), x_colour="red")  # the refused change is gone
    assert conn.image.get_image(image.id).properties["x_colour"] == "red"
    (store,) = list(conn.image.stores())
    assert (store.id, store.is_default) == ("local", True)
    put_file(conn, image.id, b"\x01" * 2048)
    assert conn.image.get_image(image.id).properties["stores"] == "local"


def test_glanceclient_meets_the_reserved_namespace_and_the_store(stack: Stack) -> None:
    from glanceclient import exc

    key = stack.new_account("alpha")
    client = glance(stack, key)
    with pytest.raises(exc.HTTPForbidden):
        client.images.create(name="r", disk_format="raw", container_format="bare", os_glance_foo="bar")
    image = client.images.create(name="ok", disk_format="raw", container_format="bare", hw_a="1")
    with pytest.raises(exc.HTTPForbidden):
        client.images.update(image.id, os_glance_foo="bar")
    updated = client.images.update(image.id, hw_b="2", remove_props=["hw_a"])
    assert (updated.get("hw_b"), updated.get("hw_a")) == ("2", None)
    assert client.images.get_stores_info() == {
        "stores": [
            {"id": "local", "description": "Image data on this service's filesystem store", "default": "true"}
        ]
    }
    with pytest.raises(exc.HTTPForbidden):
        client.images.get_stores_info_detail()
    client.images.upload(image.id, io.BytesIO(b"\x02" * 1024))
    assert client.images.get(image.id)["stores"] == "local"


def test_an_admin_reads_the_stores_detail_and_a_reader_the_stores(stack: Stack) -> None:
    """The role is the key's (roles on keys): an admin key of an operator account sees the detail,
    through raw HTTP, openstacksdk and glanceclient; a reader lists the stores as anyone may."""
    admin = stack.new_account("ops", role=Role.ADMIN, operator=True)
    detail = _call(stack, token(stack, admin), "GET", "/v2/info/stores/detail")
    assert detail.status_code == 200, detail.text
    assert detail.json() == {"stores": [{**LOCAL, "type": "file", "properties": {}, "weight": 0}]}
    assert glance(stack, admin).images.get_stores_info_detail() == detail.json()
    (store,) = list(connect(stack, admin).image.stores(details=True))
    assert (store.id, store.is_default, store.properties) == ("local", True, {})
    reader = stack.new_account("readers", role=Role.READER)
    assert _call(stack, token(stack, reader), "GET", "/v2/info/stores").json() == {"stores": [LOCAL]}
    assert _call(stack, token(stack, reader), "GET", "/v2/info/stores/detail").status_code == 403


def test_an_import_may_name_only_the_one_store(stack: Stack, owner: tuple[Key, str]) -> None:
    """Tempest imports with ``all_stores: true`` or the stores it listed; another store is Glance's 409."""
    tok = owner[1]
    image = _image(stack, tok)
    staged = _call(
        stack,
        tok,
        "PUT",
        f"/v2/images/{image['id']}/stage",
        content=b"\x03" * 4096,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert staged.status_code == 204, staged.text
    path = f"/v2/images/{image['id']}/import"
    direct = {"method": {"name": "glance-direct"}}
    for body, headers, status in [
        ({**direct, "stores": ["s3"]}, {}, 409),
        (direct, {"X-Image-Meta-Store": "fast"}, 409),
        ({**direct, "all_stores": True, "stores": ["local"]}, {}, 400),
        ({**direct, "all_stores": "yes"}, {}, 400),
        ({**direct, "stores": "local"}, {}, 400),
    ]:
        response = _call(stack, tok, "POST", path, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
    assert _call(stack, tok, "GET", f"/v2/images/{image['id']}").json()["status"] == "uploading"
    done = _call(
        stack, tok, "POST", path, json={**direct, "all_stores": True, "all_stores_must_succeed": False}
    )
    assert done.status_code == 202, done.text
    assert _call(stack, tok, "GET", f"/v2/images/{image['id']}").json()["stores"] == "local"
