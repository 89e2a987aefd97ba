"""The v2 edge checks image attributes with the table ``/v2/schemas/image`` is rendered from: for every
attribute, the edge accepts exactly the values the served document allows (judged by ``jsonschema``, the
validator glanceclient itself runs through warlock), and refuses (403) what the document marks read-only,
on create (once the value has the document's type, as Glance) and in a patch of either form.

Known, recorded differences (docs/decisions.md): NUL in a string (the document cannot say it; PostgreSQL
refuses it), min_ram/min_disk ranges and the tag count (checked by the service, the same on both APIs), and
``id``, which Glance lets a caller choose and we refuse to everyone, and ``owner``, which a caller may
only send as its own account (Glance's rule for a non-admin)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scp_images.domain.errors import Forbidden, InvalidRequest
from scp_images.domain.properties import check_properties
from scp_images.http.openstack.attributes import BY_NAME, SETTABLE, checked, create_fields
from scp_images.http.openstack.patch import PatchForm, apply_patch, parse_patch
from scp_images.http.openstack.schemas import SCHEMAS

DOCUMENT = SCHEMAS["image"]()
PROPERTIES: dict[str, Any] = DOCUMENT["properties"]
REFUSED_THOUGH_WRITABLE = {"id", "owner"}


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    """Text around the schema's bounds and its enum; no NUL (see the module's note)."""
    edges = [
        "x" * n
        for bound in (schema.get("minLength"), schema.get("maxLength"))
        if bound
        for n in (bound - 1, bound, bound + 1)
    ]
    known = [v for v in schema.get("enum", ()) if isinstance(v, str)]
    text = st.text(st.characters(blacklist_characters="\x00"), max_size=8)
    return st.one_of(text, st.sampled_from([*edges, *known, "", "qcow2", "public", "ovf"]))


def _values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    item = schema.get("items", {"type": "string"})
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _strings(schema))
    return st.one_of(
        scalars,
        st.lists(st.one_of(_strings(item), st.integers(), st.none()), max_size=4),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
    )


def _allowed(schema: dict[str, Any], value: Any) -> bool:
    return jsonschema.Draft4Validator(schema).is_valid(value)


def _accepted(check: Any, value: Any) -> bool:
    try:
        check(value)
    except InvalidRequest:
        return False
    return True


@pytest.mark.parametrize("name", sorted(SETTABLE))
@given(data=st.data())
def test_the_edge_accepts_exactly_what_the_served_document_allows(name: str, data: st.DataObject) -> None:
    schema = PROPERTIES[name]
    value = data.draw(_values(schema))
    assert _accepted(lambda v: checked(BY_NAME[name], v), value) == _allowed(schema, value), value


@given(value=_values(DOCUMENT["additionalProperties"]))
def test_extras_are_accepted_exactly_as_additional_properties_allow(value: Any) -> None:
    allowed = _allowed(DOCUMENT["additionalProperties"], value)
    assert _accepted(lambda v: check_properties({"x_extra": v}), value) == allowed, value


@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_what_the_document_does_not_let_a_caller_set_is_refused(name: str) -> None:
    settable = name in SETTABLE
    assert settable == (not PROPERTIES[name].get("readOnly") and name not in REFUSED_THOUGH_WRITABLE)
    if settable:
        return
    value = _WELL_TYPED.get(name, "x")
    with pytest.raises(Forbidden):
        create_fields({name: value}, "own-account")
    for form, operation in (
        (PatchForm.RFC_6902, {"op": "replace", "path": f"/{name}", "value": value}),
        (PatchForm.DRAFT_4, {"replace": f"/{name}", "value": value}),
    ):
        with pytest.raises(Forbidden):
            apply_patch({}, parse_patch([operation], form), form)


# A value of the document's type for each read-only attribute (a wrong type is a 400 first, as Glance).
_WELL_TYPED: dict[str, Any] = {
    "id": "0b1f7a40-2c0e-4f57-9d2b-5c8d3e1a9f00",
    "status": "active",
    "size": 1,
    "virtual_size": 1,
    "owner": "another-account",
    "original_size": 1,
}


def test_the_documents_keep_glances_shape() -> None:
    """glanceclient builds its commands from these; the set and types of properties stay as they were."""
    types = {name: prop["type"] for name, prop in PROPERTIES.items()}
    assert types == {
        "id": "string",
        "name": ["null", "string"],
        "status": "string",
        "visibility": "string",
        "protected": "boolean",
        "os_hidden": "boolean",
        "owner": ["null", "string"],
        "tags": "array",
        "disk_format": ["null", "string"],
        "container_format": ["null", "string"],
        "min_ram": "integer",
        "min_disk": "integer",
        "size": ["null", "integer"],
        "virtual_size": ["null", "integer"],
        "checksum": ["null", "string"],
        "os_hash_algo": ["null", "string"],
        "os_hash_value": ["null", "string"],
        "os_distro": ["null", "string"],
        "original_disk_format": "string",
        "original_container_format": "string",
        "original_size": "integer",
        "original_sha512": "string",
        "created_at": "string",
        "updated_at": "string",
        "self": "string",
        "file": "string",
        "schema": "string",
        "stores": "string",
    }
    assert SCHEMAS["images"]()["properties"]["images"]["items"] == DOCUMENT
    assert PROPERTIES["visibility"]["enum"] == ["private", "shared", "public", "community"]
    assert PROPERTIES["disk_format"]["enum"] == [None, "qcow2", "raw", "vmdk", "vhdx", "vhd", "vdi"]
    assert PROPERTIES["container_format"]["enum"] == [None, "bare", "ova"]
    assert all(PROPERTIES[f"original_{name}"]["readOnly"] for name in ("disk_format", "size", "sha512"))
