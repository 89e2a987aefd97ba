"""Hostile input on the v2 edge: the right 4xx in the clients' error form, never a 500, and nothing left
behind; on SQLite and PostgreSQL (which refuses NUL and over-long values, so the edge must first)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from scp_images.store.sql.tables import images
from tests.openstack.conftest import token
from tests.support.stack import Key, Stack

PATCH = "application/openstack-images-v2.1-json-patch"

BAD_CREATES: dict[str, tuple[Any, int]] = {
    "nul-name": ({"name": "a\x00b"}, 400),
    "long-name": ({"name": "n" * 256}, 400),
    "long-os-distro": ({"os_distro": "d" * 65}, 400),
    "number-name": ({"name": 5}, 400),
    "number-extra": ({"x_count": 3}, 400),
    "long-extra": ({"x_long": "v" * 256}, 400),
    "bad-extra-name": ({"x y": "v"}, 400),
    "many-extras": ({f"x{i}": "v" for i in range(129)}, 400),
    "many-tags": ({"tags": [f"t{i}" for i in range(129)]}, 400),
    "tag-not-string": ({"tags": [1]}, 400),
    "tags-not-list": ({"tags": "a"}, 400),
    "huge-min-ram": ({"min_ram": 10**30}, 400),
    "negative-min-disk": ({"min_disk": -1}, 400),
    "bool-min-disk": ({"min_disk": True}, 400),
    "public": ({"visibility": "public"}, 400),
    "bad-visibility": ({"visibility": ["shared"]}, 400),
    "iso": ({"disk_format": "iso"}, 400),
    "ova-of-vhdx": ({"disk_format": "vhdx", "container_format": "ova"}, 400),
    "ovf": ({"container_format": "ovf"}, 400),
    "read-only-id": ({"id": "3f1d8a8e-0000-4000-8000-000000000000"}, 403),
    "read-only-owner": ({"owner": "someone-else"}, 403),
    "read-only-status": ({"status": "active"}, 403),
    "read-only-original": ({"original_disk_format": "vmdk"}, 403),
    "scp-only-field": ({"scp_image_type": "standard"}, 403),
    "not-an-object": ([1, 2], 400),
}


def _rows(stack: Stack) -> int:
    with stack.components.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(images)).scalar_one())


def _call(stack: Stack, tok: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"X-Auth-Token": tok, **kwargs.pop("headers", {})}
    return stack.http.request(method, f"{stack.base_url}/image{path}", headers=headers, **kwargs)


def _refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == status


@pytest.fixture
def owner(stack: Stack) -> tuple[Key, str]:
    key = stack.new_account("alpha")
    return key, token(stack, key)


@pytest.mark.parametrize("case", list(BAD_CREATES))
def test_bad_creates_are_refused_and_leave_nothing(stack: Stack, owner: tuple[Key, str], case: str) -> None:
    body, status = BAD_CREATES[case]
    _refused(_call(stack, owner[1], "POST", "/v2/images", json=body), status)
    assert _rows(stack) == 0


def test_bad_patches_change_nothing(stack: Stack, owner: tuple[Key, str]) -> None:
    tok = owner[1]
    made = _call(stack, tok, "POST", "/v2/images", json={"name": "p", "x_keep": "1"}).json()
    path = f"/v2/images/{made['id']}"
    cases: list[tuple[Any, str, int]] = [
        ([{"op": "add", "path": "/name", "value": "n"}], "application/json", 415),
        ("not json", PATCH, 400),
        ({"op": "add"}, PATCH, 400),
        ([{"op": "move", "path": "/name", "value": "x"}], PATCH, 400),
        ([{"op": "add", "path": "/a/b", "value": "x"}], PATCH, 400),
        ([{"op": "replace", "path": "/missing", "value": "x"}], PATCH, 409),
        ([{"op": "remove", "path": "/missing"}], PATCH, 409),
        ([{"op": "remove", "path": "/name"}], PATCH, 403),
        ([{"op": "replace", "path": "/status", "value": "active"}], PATCH, 403),
        ([{"op": "replace", "path": "/owner", "value": "x"}], PATCH, 403),
        ([{"op": "add", "path": "/name", "value": "a\x00"}], PATCH, 400),
        ([{"op": "add", "path": "/x_new", "value": 1}], PATCH, 400),
        ([{"op": "add", "path": "/visibility", "value": "community"}], PATCH, 400),
        ([{"op": "add", "path": "/name"}], PATCH, 400),
        ([{"op": "add", "path": "/name", "value": "ok"}] * 257, PATCH, 400),
    ]
    for body, media, status in cases:
        content = body.encode() if isinstance(body, str) else httpx.Request("POST", "/", json=body).content
        _refused(_call(stack, tok, "PATCH", path, content=content, headers={"Content-Type": media}), status)
    after = _call(stack, tok, "GET", path).json()
    assert (after["name"], after["x_keep"], after["updated_at"]) == ("p", "1", made["updated_at"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/images/not-a-uuid"),
        ("PATCH", "/v2/images/not-a-uuid"),
        ("DELETE", "/v2/images/not-a-uuid"),
        ("GET", "/v2/images/not-a-uuid/file"),
        ("PUT", "/v2/images/not-a-uuid/tags/t"),
        ("GET", "/v2/images/not-a-uuid/members"),
        ("POST", "/v2/images/not-a-uuid/actions/deactivate"),
        ("GET", "/v2/images/3f1d8a8e-0000-4000-8000-000000000000"),
        ("GET", "/v2/schemas/nothing"),
        ("GET", "/v2/nothing"),
    ],
)
def test_unknown_images_and_paths_are_404(
    stack: Stack, owner: tuple[Key, str], method: str, path: str
) -> None:
    headers = {"Content-Type": PATCH} if method == "PATCH" else {}
    _refused(_call(stack, owner[1], method, path, content=b"[]", headers=headers), 404)


def test_upload_needs_octet_stream_and_leaves_the_image_queued(stack: Stack, owner: tuple[Key, str]) -> None:
    made = _call(stack, owner[1], "POST", "/v2/images", json={"name": "u"}).json()
    response = _call(
        stack,
        owner[1],
        "PUT",
        f"/v2/images/{made['id']}/file",
        content=b"x",
        headers={"Content-Type": "text/plain"},
    )
    _refused(response, 415)
    assert _call(stack, owner[1], "GET", f"/v2/images/{made['id']}").json()["status"] == "queued"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.dictionaries(
        st.text(max_size=12),
        st.one_of(
            st.none(), st.booleans(), st.integers(), st.text(max_size=40), st.lists(st.text(max_size=5))
        ),
        max_size=6,
    )
)
def test_any_create_body_is_never_a_500(stack: Stack, owner: tuple[Key, str], body: dict[str, Any]) -> None:
    response = _call(stack, owner[1], "POST", "/v2/images", json=body)
    assert response.status_code in (201, 400, 403), response.text
    assert "error" in response.json() or response.status_code == 201
