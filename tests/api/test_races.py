"""Two writes racing on one row: one wins, the others get a 409 with the right code, never a 500
(an IntegrityError from the database). The races are made to happen: threads wait on a barrier and
send at once, many times, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from scp_images.domain.accounts import AccessKey
from scp_images.domain.errors import Conflict
from scp_images.services.access.accounts import AccountService
from scp_images.signing import sign_request
from tests.api.helpers import publish
from tests.support.stack import Key, Stack

ROUNDS = 20
RACERS = 6


def _post_at_once(stack: Stack, key: Key, path: str, body: dict[str, Any]) -> list[httpx.Response]:
    """RACERS copies of one POST (each signed anew), released together by a barrier."""
    barrier = threading.Barrier(RACERS)
    url = stack.base_url + path

    def send(_: int) -> httpx.Response:
        headers = {"Scp-Api-Version": "virtualserver 1.3"}
        headers.update(sign_request("POST", url, key.access_key, key.secret_key).as_dict())
        with httpx.Client(timeout=30) as http:
            request = http.build_request("POST", url, headers=headers, json=body)
            barrier.wait(timeout=30)
            return http.send(request)

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(send, range(RACERS)))


def test_concurrent_adds_of_one_member_give_one_200_and_409s(stack: Stack, make_qcow2: Any) -> None:
    owner = stack.new_account("owner")
    image_id = publish(stack, make_qcow2("race.qcow2", "1M", data=False), owner.account_id, "shared")["id"]
    for round_ in range(ROUNDS):
        member = stack.components.accounts.create_account(f"member{round_}")
        responses = _post_at_once(stack, owner, f"/v1/images/{image_id}/members", {"member_id": member.id})
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {200: 1, 409: RACERS - 1}, [r.text for r in responses]
        codes = {r.json()["errors"][0]["code"] for r in responses if r.status_code == 409}
        assert codes == {"virtualserver.image.MemberExists"}
    members = stack.request("GET", f"/v1/images/{image_id}/members", owner).json()["members"]
    assert len(members) == ROUNDS


def _at_once(calls: int, fn: Any) -> list[Any]:
    """Run ``fn()`` on ``calls`` threads released together; each result or the exception it raised."""
    barrier = threading.Barrier(calls)

    def run(_: int) -> Any:
        barrier.wait(timeout=30)
        try:
            return fn()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(calls) as pool:
        return list(pool.map(run, range(calls)))


def test_concurrent_account_creates_with_one_id_give_one_account_and_conflicts(stack: Stack) -> None:
    accounts = AccountService(stack.components.db)
    for round_ in range(ROUNDS):
        account_id = f"{round_:032x}"
        results = _at_once(RACERS, lambda id_=account_id: accounts.create_account("same", id_))
        created = [r for r in results if not isinstance(r, Exception)]
        refused = [r for r in results if isinstance(r, Exception)]
        assert len(created) == 1, results
        assert all(type(r) is Conflict and account_id in r.message for r in refused), results
    assert len(accounts.list_accounts()) == ROUNDS


def test_a_key_collision_is_a_conflict_not_an_integrity_error(stack: Stack) -> None:
    """Access keys are random (20 of 62 characters), so a collision is simulated by inserting one
    record twice through the store the service uses."""
    from scp_images.store.sql import accounts as account_store

    key = stack.new_account("keys")
    record = AccessKey(
        access_key=key.access_key + "X",
        secret_key="s",
        account_id=key.account_id,
        account_name="keys",
        user_name="u",
        enabled=True,
        denied_actions=frozenset(),
        created_at=stack.components.clock(),
    )
    with stack.components.db.transaction() as conn:
        account_store.insert_key(conn, record)
    with pytest.raises(Conflict), stack.components.db.transaction() as conn:
        account_store.insert_key(conn, record)
