"""Metadata definitions (``/v2/metadefs``) through a real server, raw HTTP and openstacksdk: what
Tempest's metadef tests do, the visibility rules across accounts, admin-only changes, protection and
the cascade of a namespace's definitions."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

from scp_images.domain.principal import Role
from tests.openstack.conftest import connect, glance, token
from tests.support.stack import Key, Stack

NS = "/image/v2/metadefs/namespaces"


@pytest.fixture
def admin(stack: Stack) -> Key:
    """A key with the admin role, of an operator account."""
    return stack.new_account("operators", role=Role.ADMIN, operator=True)


class Caller:
    def __init__(self, stack: Stack, key: Key) -> None:
        self.stack = stack
        self.key = key
        self.headers = {"X-Auth-Token": token(stack, key)}

    def __call__(self, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
        return self.stack.http.request(
            method,
            f"{self.stack.base_url}{path}",
            json=body,
            headers={**self.headers, **headers},
        )


@pytest.fixture
def as_admin(stack: Stack, admin: Key) -> Caller:
    return Caller(stack, admin)


@pytest.fixture
def as_alpha(stack: Stack) -> Caller:
    return Caller(stack, stack.new_account("alpha"))


@pytest.fixture
def as_beta(stack: Stack) -> Caller:
    return Caller(stack, stack.new_account("beta"))


def _created(response: httpx.Response) -> Any:
    assert response.status_code == 201, response.text
    return response.json()


SCHEMAS = {
    "namespace": "namespace",
    "namespaces": "namespaces",
    "object": "object",
    "objects": "objects",
    "property": "property",
    "properties": "properties",
    "tag": "tag",
    "tags": "tags",
    "resource_type": "resource_type_association",
    "resource_types": "resource_type_associations",
}


@pytest.mark.parametrize(("path", "name"), SCHEMAS.items())
def test_the_schemas_are_served_with_glances_names(as_alpha: Caller, path: str, name: str) -> None:
    response = as_alpha("GET", f"/image/v2/schemas/metadefs/{path}")
    assert response.status_code == 200, response.text
    schema = response.json()
    assert schema["name"] == name
    assert "properties" in schema
    if path.endswith("s"):
        assert schema["properties"][name]["type"] in ("array", "object")
        assert {link["rel"] for link in schema["links"]} == {"first", "next", "describedby"}
    else:
        assert schema["additionalProperties"] is False


def test_the_schemas_validate_what_the_service_answers(as_admin: Caller) -> None:
    body = {
        "namespace": "schema-check",
        "description": "d",
        "visibility": "public",
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}],
        "properties": {"cpu": {"title": "CPU", "type": "integer", "minimum": 1}},
        "objects": [
            {"name": "obj", "required": ["a"], "properties": {"a": {"title": "A", "type": "string"}}}
        ],
        "tags": [{"name": "t1"}],
    }
    created = _created(as_admin("POST", NS, body))
    shown = as_admin("GET", f"{NS}/schema-check").json()

    def check(kind: str, document: Any) -> None:
        schema = as_admin("GET", f"/image/v2/schemas/metadefs/{kind}").json()
        jsonschema.validate(document, schema)

    check("namespace", created)
    check("namespace", shown)
    check("namespaces", as_admin("GET", NS).json())
    check("object", as_admin("GET", f"{NS}/schema-check/objects/obj").json())
    check("objects", as_admin("GET", f"{NS}/schema-check/objects").json())
    check("property", as_admin("GET", f"{NS}/schema-check/properties/cpu").json())
    check("properties", as_admin("GET", f"{NS}/schema-check/properties").json())
    check("tag", as_admin("GET", f"{NS}/schema-check/tags/t1").json())
    check("tags", as_admin("GET", f"{NS}/schema-check/tags").json())
    check("resource_types", as_admin("GET", f"{NS}/schema-check/resource_types").json())


def test_empty_by_default_but_for_the_image_resource_type(as_alpha: Caller) -> None:
    assert as_alpha("GET", NS).json()["namespaces"] == []
    types = as_alpha("GET", "/image/v2/metadefs/resource_types").json()["resource_types"]
    assert [t["name"] for t in types] == ["OS::Glance::Image"]


def test_namespace_lifecycle_as_tempest_runs_it(as_admin: Caller) -> None:
    resource = as_admin("GET", "/image/v2/metadefs/resource_types").json()["resource_types"][0]["name"]
    body = {
        "namespace": "tempest-ns",
        "visibility": "public",
        "description": "Tempest",
        "display_name": "tempest-ns",
        "resource_type_associations": [{"name": resource}],
        "protected": True,
    }
    created = as_admin("POST", NS, body)
    assert created.status_code == 201
    assert created.headers["Location"] == "/v2/metadefs/namespaces/tempest-ns"
    assert "tempest-ns" in [n["namespace"] for n in as_admin("GET", NS).json()["namespaces"]]
    shown = as_admin("GET", f"{NS}/tempest-ns").json()
    assert (shown["namespace"], shown["visibility"], shown["protected"]) == ("tempest-ns", "public", True)
    assert [a["name"] for a in shown["resource_type_associations"]] == [resource]

    refused = as_admin("DELETE", f"{NS}/tempest-ns")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == 403

    body.update(visibility="private", protected=False)
    del body["resource_type_associations"]
    updated = as_admin("PUT", f"{NS}/tempest-ns", body)
    assert updated.status_code == 200, updated.text
    assert (updated.json()["visibility"], updated.json()["protected"]) == ("private", False)
    assert as_admin("DELETE", f"{NS}/tempest-ns").status_code == 204
    assert as_admin("GET", f"{NS}/tempest-ns").status_code == 404


def test_objects_properties_and_tags_as_tempest_runs_them(as_admin: Caller) -> None:
    _created(as_admin("POST", NS, {"namespace": "parts"}))
    obj = _created(as_admin("POST", f"{NS}/parts/objects", {"name": "obj-1"}))
    assert obj["self"] == "/v2/metadefs/namespaces/parts/objects/obj-1"
    renamed = as_admin("PUT", f"{NS}/parts/objects/obj-1", {"name": "obj-2"}).json()
    assert renamed["name"] == "obj-2"
    assert as_admin("GET", f"{NS}/parts/objects/obj-2").json()["name"] == "obj-2"
    assert as_admin("DELETE", f"{NS}/parts/objects/obj-2").status_code == 204
    assert as_admin("GET", f"{NS}/parts/objects").json()["objects"] == []

    enum = ["xen", "qemu", "kvm"]
    prop = {"name": "OS::Glance::Image", "title": "p1", "type": "string", "enum": enum}
    assert _created(as_admin("POST", f"{NS}/parts/properties", prop))["title"] == "p1"
    assert as_admin("GET", f"{NS}/parts/properties/OS::Glance::Image").json()["name"] == "OS::Glance::Image"
    updated = as_admin("PUT", f"{NS}/parts/properties/OS::Glance::Image", {**prop, "title": "p2"})
    assert updated.json()["title"] == "p2"
    assert as_admin("DELETE", f"{NS}/parts/properties/OS::Glance::Image").status_code == 204
    assert as_admin("GET", f"{NS}/parts/properties").json()["properties"] == {}

    tags = {"tags": [{"name": "sample-tag1"}, {"name": "sample-tag2"}, {"name": "sample-tag3"}]}
    assert len(_created(as_admin("POST", f"{NS}/parts/tags", tags))["tags"]) == 3
    assert len(as_admin("GET", f"{NS}/parts/tags").json()["tags"]) == 3
    _created(as_admin("POST", f"{NS}/parts/tags/one-more"))
    assert as_admin("GET", f"{NS}/parts/tags/one-more").json()["name"] == "one-more"
    assert as_admin("PUT", f"{NS}/parts/tags/one-more", {"name": "renamed"}).json()["name"] == "renamed"
    assert as_admin("DELETE", f"{NS}/parts/tags/renamed").status_code == 204
    assert as_admin("DELETE", f"{NS}/parts/tags").status_code == 204
    assert as_admin("GET", f"{NS}/parts/tags").json()["tags"] == []


def test_tags_replace_unless_appended(as_admin: Caller) -> None:
    _created(as_admin("POST", NS, {"namespace": "tagged", "tags": [{"name": "old"}]}))
    _created(
        as_admin("POST", f"{NS}/tagged/tags", {"tags": [{"name": "new"}]}, **{"X-Openstack-Append": "True"})
    )
    assert {t["name"] for t in as_admin("GET", f"{NS}/tagged/tags").json()["tags"]} == {"old", "new"}
    _created(as_admin("POST", f"{NS}/tagged/tags", {"tags": [{"name": "only"}]}))
    assert [t["name"] for t in as_admin("GET", f"{NS}/tagged/tags").json()["tags"]] == ["only"]
    twice = as_admin("POST", f"{NS}/tagged/tags", {"tags": [{"name": "a"}, {"name": "a"}]})
    assert twice.status_code == 400
    again = as_admin(
        "POST", f"{NS}/tagged/tags", {"tags": [{"name": "only"}]}, **{"X-Openstack-Append": "yes"}
    )
    assert again.status_code == 409


def test_resource_type_associations(as_admin: Caller) -> None:
    _created(as_admin("POST", NS, {"namespace": "assoc"}))
    created = _created(
        as_admin("POST", f"{NS}/assoc/resource_types", {"name": "OS::Glance::Image", "prefix": "x_"})
    )
    assert (created["name"], created["prefix"]) == ("OS::Glance::Image", "x_")
    listed = as_admin("GET", f"{NS}/assoc/resource_types").json()["resource_type_associations"]
    assert [a["name"] for a in listed] == ["OS::Glance::Image"]
    assert as_admin("POST", f"{NS}/assoc/resource_types", {"name": "OS::Glance::Image"}).status_code == 409
    filtered = as_admin("GET", f"{NS}?resource_types=OS::Glance::Image").json()["namespaces"]
    assert [n["namespace"] for n in filtered] == ["assoc"]
    assert as_admin("DELETE", f"{NS}/assoc/resource_types/OS::Glance::Image").status_code == 204
    assert as_admin("GET", f"{NS}/assoc/resource_types").json()["resource_type_associations"] == []
    # An unknown name becomes a resource type, as in Glance.
    _created(as_admin("POST", f"{NS}/assoc/resource_types", {"name": "OS::Nova::Flavor"}))
    types = as_admin("GET", "/image/v2/metadefs/resource_types").json()["resource_types"]
    assert [t["name"] for t in types] == ["OS::Glance::Image", "OS::Nova::Flavor"]


def test_a_private_namespace_is_its_owners_and_admins(
    as_admin: Caller, as_alpha: Caller, as_beta: Caller
) -> None:
    owner = as_alpha.key.account_id
    _created(as_admin("POST", NS, {"namespace": "alpha-only", "owner": owner}))
    _created(as_admin("POST", NS, {"namespace": "for-all", "visibility": "public"}))
    assert as_alpha("GET", f"{NS}/alpha-only").status_code == 200
    assert as_admin("GET", f"{NS}/alpha-only").status_code == 200
    for path in ("", "/objects", "/properties", "/tags", "/resource_types", "/tags/x", "/objects/x"):
        hidden = as_beta("GET", f"{NS}/alpha-only{path}")
        assert hidden.status_code == 404, path
        assert hidden.json()["error"]["code"] == 404
    assert as_beta("DELETE", f"{NS}/alpha-only").status_code == 404
    assert {n["namespace"] for n in as_beta("GET", NS).json()["namespaces"]} == {"for-all"}
    assert {n["namespace"] for n in as_alpha("GET", NS).json()["namespaces"]} == {"for-all", "alpha-only"}
    assert as_beta("GET", f"{NS}?visibility=private").json()["namespaces"] == []


def test_only_admins_change_definitions(as_admin: Caller, as_alpha: Caller) -> None:
    refused = as_alpha("POST", NS, {"namespace": "mine"})
    assert refused.status_code == 403
    assert "admin" in refused.json()["error"]["message"]
    owner = as_alpha.key.account_id
    _created(as_admin("POST", NS, {"namespace": "theirs", "owner": owner}))
    attempts = [
        ("PUT", "", {"namespace": "theirs"}),
        ("DELETE", "", None),
        ("POST", "/objects", {"name": "o"}),
        ("POST", "/properties", {"name": "p", "title": "p", "type": "string"}),
        ("POST", "/tags", {"tags": [{"name": "t"}]}),
        ("POST", "/tags/t", None),
        ("POST", "/resource_types", {"name": "OS::Glance::Image"}),
        ("DELETE", "/objects", None),
    ]
    for method, path, body in attempts:
        assert as_alpha(method, f"{NS}/theirs{path}", body).status_code == 403, (method, path)
    assert as_admin("GET", f"{NS}/theirs").json().get("objects") is None


def test_protection_and_the_cascade(stack: Stack, as_admin: Caller) -> None:
    body = {
        "namespace": "full",
        "protected": True,
        "resource_type_associations": [{"name": "OS::Glance::Image"}],
        "properties": {"p": {"title": "P", "type": "boolean"}},
        "objects": [{"name": "o", "properties": {"q": {"title": "Q", "type": "string"}}}],
        "tags": [{"name": "t"}],
    }
    _created(as_admin("POST", NS, body))
    for path in (
        "",
        "/objects",
        "/objects/o",
        "/properties/p",
        "/tags",
        "/tags/t",
        "/resource_types/OS::Glance::Image",
    ):
        assert as_admin("DELETE", f"{NS}/full{path}").status_code == 403, path
    as_admin("PUT", f"{NS}/full", {"namespace": "full", "protected": False})
    assert as_admin("DELETE", f"{NS}/full").status_code == 204
    from sqlalchemy import func, select

    from scp_images.store.sql import tables

    with stack.components.db.read() as conn:
        for table in (
            tables.metadef_objects,
            tables.metadef_properties,
            tables.metadef_tags,
            tables.metadef_namespace_resource_types,
        ):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0, table.name
    _created(as_admin("POST", NS, {"namespace": "full"}))  # the name is free again
    assert as_admin("GET", f"{NS}/full").json().get("objects") is None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"namespace": "x" * 81}, 400),
        ({"namespace": "a/b"}, 400),
        ({"namespace": "ok", "description": "d" * 501}, 400),
        ({"namespace": "ok", "visibility": "shared"}, 400),
        ({"namespace": "ok", "created_at": "2020-01-01T00:00:00Z"}, 403),
        ({"namespace": "ok", "self": "x"}, 403),
        ({"namespace": "ok", "unknown": 1}, 400),
        ({"namespace": "ok", "tags": [{"name": "t"}] * 1001}, 400),
        ({"namespace": "ok", "properties": {"p": {"title": "P"}}}, 400),
        ({"namespace": "ok", "properties": {"p": {"title": "P", "type": "string", "x": 1}}}, 400),
        (
            {
                "namespace": "ok",
                "properties": {"p": {"title": "P", "type": "string", "enum": list(range(101))}},
            },
            400,
        ),
        (
            {"namespace": "ok", "properties": {"p": {"title": "P", "type": "string", "default": {"a": 1}}}},
            400,
        ),
        ({"namespace": "ok", "properties": {"p": {"title": "P", "type": "int"}}}, 400),
        ({"namespace": "ok", "properties": {"p": {"title": "P", "type": "string", "maxLength": True}}}, 400),
        ([], 400),
        ("text", 400),
    ],
)
def test_hostile_bodies_are_refused(as_admin: Caller, body: Any, status: int) -> None:
    response = as_admin("POST", NS, body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == status
    assert as_admin("GET", NS).json()["namespaces"] == []


def test_deep_and_huge_json_is_refused(as_admin: Caller) -> None:
    deep = "[" * 5000 + "]" * 5000
    headers = {**as_admin.headers, "Content-Type": "application/json"}
    url = f"{as_admin.stack.base_url}{NS}"
    assert as_admin.stack.http.post(url, content=deep, headers=headers).status_code == 400
    nested: Any = {"title": "t", "type": "string"}
    for _ in range(50):
        nested = {"items": nested}
    assert as_admin("POST", NS, {"namespace": "n", "properties": {"p": nested}}).status_code == 400
    huge = b'{"namespace": "' + b"x" * (2 << 20) + b'"}'
    assert as_admin.stack.http.post(url, content=huge, headers=headers).status_code == 413


def test_duplicates_are_conflicts(as_admin: Caller) -> None:
    _created(as_admin("POST", NS, {"namespace": "dup", "objects": [{"name": "o"}]}))
    assert as_admin("POST", NS, {"namespace": "dup"}).status_code == 409
    assert as_admin("POST", f"{NS}/dup/objects", {"name": "o"}).status_code == 409
    _created(as_admin("POST", f"{NS}/dup/objects", {"name": "p"}))
    assert as_admin("PUT", f"{NS}/dup/objects/p", {"name": "o"}).status_code == 409
    assert as_admin("PUT", f"{NS}/dup/objects/missing", {"name": "z"}).status_code == 404


def test_paging_namespaces(as_admin: Caller) -> None:
    for i in range(5):
        _created(as_admin("POST", NS, {"namespace": f"page-{i}", "visibility": "public"}))
    first = as_admin("GET", f"{NS}?limit=2&sort_key=namespace&sort_dir=asc").json()
    assert [n["namespace"] for n in first["namespaces"]] == ["page-0", "page-1"]
    assert first["next"].startswith("/v2/metadefs/namespaces?")
    second = as_admin("GET", "/image" + first["next"]).json()
    assert [n["namespace"] for n in second["namespaces"]] == ["page-2", "page-3"]
    assert as_admin("GET", f"{NS}?limit=x").status_code == 400
    assert as_admin("GET", f"{NS}?sort_dir=up").status_code == 400
    assert as_admin("GET", f"{NS}?marker=nope").status_code == 404


def test_openstacksdk_reads_and_writes_metadefs(stack: Stack, admin: Key) -> None:
    conn = connect(stack, admin)
    created = conn.image.create_metadef_namespace(
        namespace="sdk-ns", visibility="public", description="via sdk"
    )
    assert created.namespace == "sdk-ns"
    assert "sdk-ns" in [n.namespace for n in conn.image.metadef_namespaces()]
    assert conn.image.get_metadef_namespace("sdk-ns").description == "via sdk"
    conn.image.create_metadef_object("sdk-ns", name="sdk-obj")
    assert [o.name for o in conn.image.metadef_objects("sdk-ns")] == ["sdk-obj"]
    conn.image.create_metadef_property("sdk-ns", name="sdk-prop", title="P", type="string")
    assert conn.image.get_metadef_property("sdk-prop", "sdk-ns").title == "P"
    schema = conn.image.get_metadef_namespace_schema()
    assert schema.name == "namespace"
    assert [t.name for t in conn.image.metadef_resource_types()] == ["OS::Glance::Image"]
    conn.image.delete_metadef_namespace("sdk-ns")
    assert "sdk-ns" not in [n.namespace for n in conn.image.metadef_namespaces()]


def test_glanceclient_validates_against_the_schemas_and_works(stack: Stack, admin: Key) -> None:
    client = glance(stack, admin)
    created = client.metadefs_namespace.create(namespace="gc-ns", visibility="public", protected=False)
    assert created["namespace"] == "gc-ns"
    client.metadefs_property.create("gc-ns", name="gc-prop", title="P", type="string")
    client.metadefs_object.create("gc-ns", name="gc-obj")
    assert len(list(client.metadefs_tag.create_multiple("gc-ns", tags=["a", "b"]))) == 2
    client.metadefs_resource_type.associate("gc-ns", name="OS::Glance::Image", prefix="gc_")
    shown = client.metadefs_namespace.get("gc-ns", resource_type="OS::Glance::Image")
    assert set(shown["properties"]) == {"gc_gc-prop"}
    assert [n["namespace"] for n in client.metadefs_namespace.list()] == ["gc-ns"]
    assert [t["name"] for t in client.metadefs_resource_type.list()] == ["OS::Glance::Image"]
    assert sorted(t["name"] for t in client.metadefs_tag.list("gc-ns")) == ["a", "b"]
    client.metadefs_namespace.delete("gc-ns")
    assert list(client.metadefs_namespace.list()) == []


def test_a_reader_reads_and_changes_nothing(stack: Stack, as_admin: Caller) -> None:
    _created(as_admin("POST", NS, {"namespace": "readable", "visibility": "public"}))
    reader = Caller(stack, stack.new_account("readers", role=Role.READER))
    assert reader("GET", f"{NS}/readable").status_code == 200
    assert reader("GET", "/image/v2/schemas/metadefs/namespace").status_code == 200
    assert reader("POST", f"{NS}/readable/tags/t").status_code == 403
    assert reader("DELETE", f"{NS}/readable").status_code == 403


def test_each_change_is_in_the_audit_trail(stack: Stack, as_admin: Caller, as_alpha: Caller) -> None:
    from sqlalchemy import select

    from scp_images.store.sql import tables

    _created(as_admin("POST", NS, {"namespace": "audited"}))
    _created(as_admin("POST", f"{NS}/audited/objects", {"name": "o"}))
    assert as_admin("DELETE", f"{NS}/audited/objects/o").status_code == 204
    assert as_alpha("POST", NS, {"namespace": "refused"}).status_code == 403
    records = tables.audit_records
    query = select(records.c.action, records.c.detail, records.c.access_key, records.c.status).where(
        records.c.action.like("metadef.%")
    )
    with stack.components.db.read() as conn:
        rows = {(r.action, r.detail, r.access_key, r.status) for r in conn.execute(query)}
    admin_key = as_admin.key.access_key
    assert any(r[:3] == ("metadef.create", "audited", admin_key) for r in rows)
    assert any(r[:3] == ("metadef.create", "audited/objects/o", admin_key) for r in rows)
    assert any(r[:3] == ("metadef.delete", "audited/objects/o", admin_key) for r in rows)
    assert any(r[0] == "metadef.create" and r[2] == as_alpha.key.access_key and r[3] == 403 for r in rows)
