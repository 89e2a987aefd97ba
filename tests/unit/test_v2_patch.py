"""The v2 JSON patch parser in Glance's two forms, and the names a caller may not write (Glance's 403s),
directly: every body is refused with a domain error (never anything else), the two forms mean the same
operations, and the refusals follow Glance's order (glance/api/v2/images.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scp_images.domain import errors as e
from scp_images.http.openstack.attributes import create_fields
from scp_images.http.openstack.patch import Change, PatchForm, apply_patch, decode_pointer, parse_patch

D4, D10 = PatchForm.DRAFT_4, PatchForm.RFC_6902
DOC: dict[str, Any] = {
    "name": "n",
    "visibility": "shared",
    "protected": False,
    "os_hidden": False,
    "tags": [],
    "min_ram": 0,
    "min_disk": 0,
    "disk_format": "raw",
    "container_format": "bare",
    "os_distro": None,
    "hw_disk_bus": "virtio",
}


def _op(form: PatchForm, op: str, path: str, **value: Any) -> dict[str, Any]:
    return {"op": op, "path": path, **value} if form is D10 else {op: path, **value}


def _patch(form: PatchForm, *ops: dict[str, Any]) -> dict[str, Any]:
    return apply_patch(DOC, parse_patch(list(ops), form), form)


# --- both forms ----------------------------------------------------------------------------------

_NAMES = st.sampled_from(["name", "min_ram", "os_distro", "hw_disk_bus", "x_new", "tags", "a/b", "t~x"])
_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.lists(st.text(max_size=3))
)


def _pointer(name: str) -> str:
    return "/" + name.replace("~", "~0").replace("/", "~1")


@given(ops=st.lists(st.tuples(st.sampled_from(["add", "replace", "remove"]), _NAMES, _VALUES), max_size=6))
def test_the_two_forms_mean_the_same_operations(ops: list[tuple[str, str, Any]]) -> None:
    def render(form: PatchForm) -> list[dict[str, Any]]:
        return [
            _op(form, op, _pointer(name), **({} if op == "remove" else {"value": v})) for op, name, v in ops
        ]

    outcomes = []
    for form in (D4, D10):
        try:
            outcomes.append(parse_patch(render(form), form))
        except e.DomainError as refused:
            outcomes.append(type(refused))  # type: ignore[arg-type]
    assert outcomes[0] == outcomes[1]


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_OPERATION = st.fixed_dictionaries(
    {},
    optional={
        "op": st.one_of(st.sampled_from(["add", "replace", "remove", "test", "move"]), _JSON),
        "path": st.one_of(st.sampled_from(["/name", "/os_glance_x", "/locations/0", "/a//b", "/~2"]), _JSON),
        "add": st.one_of(st.sampled_from(["/hw_x", "/name", "/locations", "/owner"]), _JSON),
        "replace": st.one_of(st.sampled_from(["/min_ram", "/stores", "/os_distro"]), _JSON),
        "remove": st.one_of(st.sampled_from(["/hw_disk_bus", "/tags", "/nope"]), _JSON),
        "value": _JSON,
    },
)


@given(
    body=st.one_of(_JSON, st.lists(st.one_of(_OPERATION, _JSON), max_size=5)), form=st.sampled_from([D4, D10])
)
def test_any_body_is_applied_or_refused_with_a_domain_error(body: Any, form: PatchForm) -> None:
    try:
        patched = apply_patch(DOC, parse_patch(body, form), form)
    except e.DomainError as refused:
        assert isinstance(refused, e.InvalidRequest | e.Forbidden | e.Conflict)
        assert refused.message  # renders without a missing parameter
        return
    assert set(patched) >= set(DOC) - {"hw_disk_bus"}  # the attributes stay; only a property may go


# --- pointers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pointer", "names"),
    [
        ("/name", ("name",)),
        ("/a~1b", ("a/b",)),
        ("/t~0x", ("t~x",)),
        ("/ name ", ("name",)),
        ("/l/0", ("l", "0")),
    ],
)
def test_pointers_decode_as_glances(pointer: str, names: tuple[str, ...]) -> None:
    assert decode_pointer(pointer) == names


@pytest.mark.parametrize("pointer", ["name", "/a//b", "/a/ /b", "/a/", "/~2", "/a~", 5, None, ["/name"]])
def test_malformed_pointers_are_400(pointer: Any) -> None:
    with pytest.raises(e.InvalidRequest):
        decode_pointer(pointer)


@pytest.mark.parametrize(
    ("form", "operation"),
    [
        (D10, {"path": "/name", "value": "x"}),
        (D10, {"op": "test", "path": "/name", "value": "x"}),
        (D10, {"op": "add", "value": "x"}),
        (D10, {"op": "add", "path": "/name"}),
        (D10, {"op": "add", "path": "/a/b", "value": "x"}),
        (D4, {"value": "x"}),
        (D4, {"add": "/name", "replace": "/name", "value": "x"}),
        (D4, {"op": "add", "path": "/name", "value": "x"}),
        (D4, {"replace": "/name"}),
        (D4, {"add": "/locations", "value": []}),
        (D4, {"replace": "/min_ram", "value": "1"}),
        (D4, {"add": "/hw_x", "value": 5}),
    ],
)
def test_malformed_operations_are_400(form: PatchForm, operation: dict[str, Any]) -> None:
    with pytest.raises(e.InvalidRequest):
        parse_patch([operation], form)


# --- what an operation does in each form ---------------------------------------------------------


def test_add_replaces_in_rfc_6902_and_only_creates_in_draft_4() -> None:
    assert _patch(D10, _op(D10, "add", "/hw_disk_bus", value="scsi"))["hw_disk_bus"] == "scsi"
    assert _patch(D10, _op(D10, "add", "/name", value="m"))["name"] == "m"
    for path in ("/hw_disk_bus", "/name", "/min_ram"):
        with pytest.raises(e.PropertyPresent):
            _patch(D4, _op(D4, "add", path, value="v" if path != "/min_ram" else 1))
    assert _patch(D4, _op(D4, "add", "/os_distro", value="ubuntu"))["os_distro"] == "ubuntu"
    assert _patch(D4, _op(D4, "add", "/hw_new", value="v"))["hw_new"] == "v"


@pytest.mark.parametrize("form", [D4, D10])
def test_replace_and_remove_need_the_property(form: PatchForm) -> None:
    with pytest.raises(e.PropertyMissing):
        _patch(form, _op(form, "replace", "/hw_absent", value="v"))
    with pytest.raises(e.PropertyMissing):
        _patch(form, _op(form, "remove", "/hw_absent"))
    assert "hw_disk_bus" not in _patch(form, _op(form, "remove", "/hw_disk_bus"))
    assert _patch(form, _op(form, "replace", "/os_distro", value="x"))["os_distro"] == "x"


@pytest.mark.parametrize("form", [D4, D10])
@pytest.mark.parametrize("name", ["name", "tags", "visibility", "min_ram", "protected", "disk_format"])
def test_attributes_may_not_be_removed(form: PatchForm, name: str) -> None:
    with pytest.raises(e.AttributeNotRemovable):
        _patch(form, _op(form, "remove", f"/{name}"))


# --- names a caller may not write ----------------------------------------------------------------


@pytest.mark.parametrize("form", [D4, D10])
@pytest.mark.parametrize("op", ["add", "replace", "remove"])
@pytest.mark.parametrize(
    "name", ["os_glance_foo", "os_glance_import_task", "os_glancex", "deleted", "location"]
)
def test_reserved_names_are_403_in_every_operation(form: PatchForm, op: str, name: str) -> None:
    value = {} if op == "remove" else {"value": "bar"}
    with pytest.raises(e.AttributeReserved):
        parse_patch([_op(form, op, f"/{name}", **value)], form)


@pytest.mark.parametrize("form", [D4, D10])
@pytest.mark.parametrize(
    "name",
    ["id", "status", "checksum", "size", "created_at", "os_hash_value", "self", "stores", "direct_url"],
)
def test_read_only_names_are_403_before_their_value_is_looked_at(form: PatchForm, name: str) -> None:
    with pytest.raises(e.AttributeReadOnly):
        parse_patch([_op(form, "replace", f"/{name}", value={"not": "a valid value"})], form)


def test_the_reserved_prefix_is_glances_case_as_written() -> None:
    assert _patch(D10, _op(D10, "add", "/OS_GLANCE_x", value="v"))["OS_GLANCE_x"] == "v"


@pytest.mark.parametrize("form", [D4, D10])
def test_owner_is_not_changed_by_a_patch(form: PatchForm) -> None:
    for op in ("add", "replace"):
        with pytest.raises(e.OwnerNotChangeable):
            _patch(form, _op(form, op, "/owner", value="other"))
    with pytest.raises(e.AttributeNotRemovable):
        _patch(form, _op(form, "remove", "/owner"))


@pytest.mark.parametrize(
    ("op", "path"), [("add", "/locations/-"), ("remove", "/locations/0"), ("replace", "/locations")]
)
def test_locations_are_not_shown(op: str, path: str) -> None:
    with pytest.raises(e.LocationsNotShown):
        _patch(D4, _op(D4, op, path, **({} if op == "remove" else {"value": []})))


def test_every_operation_is_checked_before_any_is_applied() -> None:
    ops = [_op(D10, "replace", "/hw_absent", value="v"), _op(D10, "add", "/os_glance_x", value="v")]
    with pytest.raises(e.AttributeReserved):  # the 409 of the first would come only when applying
        parse_patch(ops, D10)
    assert parse_patch(ops[:1], D10) == [Change("replace", ("hw_absent",), "v")]


# --- create --------------------------------------------------------------------------------------

_UUID = "0b1f7a40-2c0e-4f57-9d2b-5c8d3e1a9f00"


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ({"self": 5}, e.AttributeReadOnly),  # Glance's disallowed names: before any type check
        ({"stores": "local"}, e.AttributeReadOnly),
        ({"direct_url": "x"}, e.AttributeReadOnly),
        ({"status": 5}, e.InvalidRequest),  # a read-only attribute's type first (Glance's schema check)
        ({"status": "active"}, e.AttributeReadOnly),
        ({"id": "0b1f7a40-2c0e-4f57-9d2b-5c8d3e1a9f0"}, e.InvalidRequest),  # 35 characters
        ({"id": _UUID}, e.AttributeReadOnly),  # never a caller's (docs/decisions.md)
        ({"checksum": "0" * 33}, e.InvalidRequest),
        ({"size": 10}, e.AttributeReadOnly),
        ({"os_hash_algo": "sha512"}, e.AttributeReadOnly),
        ({"os_glance_foo": "bar"}, e.AttributeReserved),
        ({"os_glance_foo": 5}, e.InvalidRequest),
        ({"locations": []}, e.AttributeReserved),
        ({"deleted_at": "x"}, e.AttributeReserved),
        ({"x" * 256: "v"}, e.InvalidRequest),
        ({"owner": "another-account"}, e.OwnerNotYours),
        ({"owner": None}, e.OwnerNotYours),
        ({"owner": "another-account", "size": 1}, e.OwnerNotYours),
        ({"os_glance_foo": "bar", "owner": "another-account"}, e.AttributeReserved),
        ({"url": "x"}, e.AttributeReadOnly),  # an SCP field's name
    ],
)
def test_create_refusals_follow_glances_order(body: dict[str, Any], refused: type[e.DomainError]) -> None:
    with pytest.raises(refused):
        create_fields(body, "own-account")


def test_a_create_may_name_its_own_owner() -> None:
    fields, extras = create_fields({"owner": "own-account", "name": "n", "hw_x": "v"}, "own-account")
    assert (fields, extras) == ({"name": "n"}, {"hw_x": "v"})


_PROJECT = "0123456789abcdef0123456789abcdef"


def test_an_admin_may_name_another_owner_on_create() -> None:
    fields, _ = create_fields({"owner": _PROJECT, "name": "n"}, "own-account", admin=True)
    assert fields == {"name": "n", "owner": _PROJECT}
    # Null or the admin's own account is the admin's own image: nothing to carry.
    assert create_fields({"owner": None}, "own-account", admin=True)[0] == {}
    assert create_fields({"owner": "own-account"}, "own-account", admin=True)[0] == {}


@pytest.mark.parametrize("owner", ["another-account", _PROJECT.upper(), _PROJECT + "0", "", "x" * 255])
def test_an_admins_owner_is_a_project_id(owner: str) -> None:
    with pytest.raises(e.InvalidRequest):
        create_fields({"owner": owner}, "own-account", admin=True)


@pytest.mark.parametrize("form", [D4, D10])
def test_an_admin_adds_or_replaces_the_owner(form: PatchForm) -> None:
    for op in ("add", "replace"):
        patched = apply_patch(
            DOC, parse_patch([_op(form, op, "/owner", value=_PROJECT)], form), form, admin=True
        )
        assert patched["owner"] == _PROJECT
    with pytest.raises(e.InvalidRequest):
        apply_patch(DOC, parse_patch([_op(form, "replace", "/owner", value="nope")], form), form, admin=True)
    with pytest.raises(e.AttributeNotRemovable):
        apply_patch(DOC, parse_patch([_op(form, "remove", "/owner")], form), form, admin=True)
