"""``POST /identity/v3/auth/tokens`` spends the presented key's request budget before its secret is
compared: guessing a secret goes no faster than any other call by that key. Refused sign-ins are on the
audit trail with the key they named."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from scp_images.config import Settings
from tests.audit.helpers import by_request, listed, rid
from tests.support.stack import Key, Stack, start_stack


def _sign_in(stack: Stack, access_key: str, secret: str) -> httpx.Response:
    credential = {"id": access_key, "secret": secret}
    identity = {"methods": ["application_credential"], "application_credential": credential}
    body = {"auth": {"identity": identity}}
    return stack.http.post(f"{stack.base_url}/identity/v3/auth/tokens", json=body)


@pytest.fixture
def limited(settings: Settings) -> Any:
    """One call per key, then none for about 17 minutes: the second call of a key is always over."""
    running = start_stack(settings.model_copy(update={"rate_limit": 0.001}))
    yield running
    running.stop()


def _recorded(stack: Stack, response: httpx.Response) -> dict[str, Any]:
    records = [r for r in listed(stack.settings) if r["action"] == "token.issue"]
    return by_request(records)[rid(response)]


def test_sign_ins_past_the_keys_budget_are_429_before_the_secret_is_checked(limited: Stack) -> None:
    key: Key = limited.new_account("alpha")
    guess = _sign_in(limited, key.access_key, "not-the-secret")
    assert guess.status_code == 401
    # The right secret now: refused all the same, the budget is spent.
    over = _sign_in(limited, key.access_key, key.secret_key)
    assert over.status_code == 429, over.text
    assert over.headers["content-type"] == "application/json"
    assert int(over.headers["Retry-After"]) >= 1
    error = over.json()["error"]
    assert (error["code"], set(over.json())) == (429, {"error"})
    assert "X-Subject-Token" not in over.headers
    # Another key's budget is its own.
    other = limited.new_account("beta")
    assert _sign_in(limited, other.access_key, other.secret_key).status_code == 201

    for response, status, code in (
        (guess, 401, "virtualserver.auth.Unauthenticated"),
        (over, 429, "virtualserver.request.RateLimited"),
    ):
        record = _recorded(limited, response)
        assert (record["status"], record["error_code"]) == (status, code)
        assert (record["account_id"], record["access_key"]) == (None, key.access_key)


def test_a_name_no_key_can_have_is_refused_and_recorded_as_text(limited: Stack) -> None:
    """Too long or not printable ASCII: no budget row (PostgreSQL would refuse it), a plain 401."""
    for name in ("K" * 65, "AK\x00bad", "AK\u00e9t\u00e9"):
        first, second = _sign_in(limited, name, "s"), _sign_in(limited, name, "s")
        assert (first.status_code, second.status_code) == (401, 401), first.text
        assert first.json()["error"]["code"] == 401
        record = _recorded(limited, first)
        assert record["access_key"] == "".join(c if " " <= c <= "~" else "?" for c in name)[:64]
