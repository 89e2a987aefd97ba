"""``scp-images admin`` and roles: keys get a role (member by default), admin only in an operator account,
an account is marked and unmarked, and the lists show both. Run as the operator runs them (subprocess)."""

from __future__ import annotations

import json

from scp_images.config import Settings
from tests.api.helpers import admin, admin_json


def _account(settings: Settings, name: str, *extra: str) -> str:
    return str(admin_json(settings, "account", "create", "--name", name, *extra)["id"])


def _key(settings: Settings, account_id: str, *extra: str) -> dict[str, str]:
    args = ("key", "create", "--account", account_id, "--user", "u@example.com", *extra)
    return admin_json(settings, *args)


def test_keys_are_members_unless_told_and_the_list_shows_the_role(settings: Settings) -> None:
    account_id = _account(settings, "team")
    member = _key(settings, account_id)
    reader = _key(settings, account_id, "--role", "reader")
    assert (member["role"], reader["role"]) == ("member", "reader")
    keys = {k["access_key"]: k["role"] for k in admin_json(settings, "key", "list")["keys"]}
    assert keys == {member["access_key"]: "member", reader["access_key"]: "reader"}
    table = admin(settings, "key", "list").stdout.splitlines()
    assert table[0].split()[3] == "role"
    assert {line.split()[3] for line in table[1:]} == {"member", "reader"}


def test_admin_only_in_an_operator_account(settings: Settings) -> None:
    plain = _account(settings, "tenant")
    refused = admin(
        settings, "key", "create", "--account", plain, "--user", "a@x", "--role", "admin", check=False
    )
    assert refused.returncode == 1 and refused.stdout == ""
    assert f"Account {plain} is not an operator account" in refused.stderr
    assert f"scp-images admin account set {plain} --operator" in refused.stderr  # what to do next
    assert admin_json(settings, "key", "list")["keys"] == []  # nothing half made

    ops = _account(settings, "ops", "--operator")
    assert _key(settings, ops, "--role", "admin")["role"] == "admin"
    accounts = {a["id"]: a["operator"] for a in admin_json(settings, "account", "list")["accounts"]}
    assert accounts == {plain: False, ops: True}
    table = admin(settings, "account", "list").stdout.splitlines()
    assert table[0].split() == ["id", "name", "operator"]
    assert {line.split()[0]: line.split()[-1] for line in table[1:]} == {plain: "no", ops: "yes"}


def test_marking_an_account_then_promoting_and_demoting_a_key(settings: Settings) -> None:
    account_id = _account(settings, "team")
    key = _key(settings, account_id)["access_key"]
    refused = admin(settings, "key", "set", key, "--role", "admin", check=False)
    assert refused.returncode == 1 and "not an operator account" in refused.stderr

    marked = admin_json(settings, "account", "set", account_id, "--operator")
    assert marked["operator"] is True
    assert admin_json(settings, "key", "set", key, "--role", "admin") == {"access_key": key, "role": "admin"}

    # Unmarking is refused while a key holds admin: no key keeps a role its account may not give.
    kept = admin(settings, "account", "set", account_id, "--no-operator", check=False)
    assert kept.returncode == 1 and f"still has keys with the admin role: {key}" in kept.stderr
    assert "--role member" in kept.stderr
    admin(settings, "key", "set", key, "--role", "member")
    assert admin_json(settings, "account", "set", account_id, "--no-operator")["operator"] is False

    actions = [r["action"] for r in admin_json(settings, "audit", "list")["records"]]
    assert {"account.operator", "account.not-operator", "key.role"} <= set(actions)


def test_a_bad_role_is_a_usage_error(settings: Settings) -> None:
    account_id = _account(settings, "team")
    result = admin(
        settings, "key", "create", "--account", account_id, "--user", "u", "--role", "root", check=False
    )
    assert result.returncode == 2 and "reader" in result.stderr and "admin" in result.stderr
    assert json.loads(admin(settings, "key", "list", "--json").stdout)["keys"] == []
