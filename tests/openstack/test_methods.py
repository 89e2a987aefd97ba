"""A wrong method on the v2 and identity edges is 405 in their own error form, naming what is allowed."""

from __future__ import annotations

import pytest

from tests.openstack.conftest import token
from tests.support.stack import Stack

WRONG = [
    ("DELETE", "/image/v2/schemas/image", "GET"),
    ("PUT", "/image/v2/images", "GET, POST"),
    ("POST", "/image/v2/images/{image}", "DELETE, GET, PATCH"),
    ("PATCH", "/image/v2/images/{image}/members", "GET, POST"),
    ("POST", "/image/versions", "GET"),
    ("POST", "/image", "GET"),
    ("PUT", "/identity/v3/auth/tokens", "GET, HEAD, POST"),
    ("DELETE", "/identity", "GET"),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("method", "path", "allowed"), WRONG)
def test_a_wrong_method_is_405_with_allow(stack: Stack, method: str, path: str, allowed: str) -> None:
    key = stack.new_account("alpha")
    headers = {"X-Auth-Token": token(stack, key)}
    made = stack.http.post(f"{stack.base_url}/image/v2/images", json={"name": "x"}, headers=headers)
    url = stack.base_url + path.format(image=made.json()["id"])
    response = stack.http.request(method, url, headers=headers)
    assert response.status_code == 405, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["allow"] == allowed
    error = response.json()["error"]
    assert (error["code"], error["title"]) == (405, "Method Not Allowed")
    assert method in error["message"] and allowed in error["message"]
    assert set(response.json()) == {"error"}
