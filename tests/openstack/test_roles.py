"""Roles on keys through the OpenStack edge: the token lists the key's role with the roles it implies
(as Keystone's defaults), and the role is read from the key's row, never from the token."""

from __future__ import annotations

import pytest

from scp_images.domain.principal import Role
from tests.openstack.conftest import token
from tests.support.stack import Stack
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
