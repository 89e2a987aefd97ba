"""The one polling helper of the tests: what it returns, and what it says when the wait ends badly."""

from __future__ import annotations

import pytest

from tests.support.tools import wait_until


def test_returns_the_first_value_accepted() -> None:
    values = iter([{"status": "queued"}, {"status": "importing"}, {"status": "active"}])
    found = wait_until(
        lambda: next(values), accept=lambda v: v["status"] == "active", what="active", interval=0
    )
    assert found == {"status": "active"}


def test_by_default_the_first_truthy_value_is_returned() -> None:
    values = iter([0, [], 7])
    assert wait_until(lambda: next(values), what="something", interval=0) == 7


def test_a_timeout_names_the_wait_and_with_accept_the_last_value_seen() -> None:
    with pytest.raises(
        TimeoutError, match=r"the image active: not ready after 0 s; last seen: \{'status': 'killed'\}"
    ):
        wait_until(
            lambda: {"status": "killed"},
            accept=lambda v: v["status"] == "active",
            what="the image active",
            timeout=0,
        )


def test_alive_ends_the_wait_at_once_with_its_reason() -> None:
    calls = []

    def ready() -> bool:
        calls.append(1)
        return False

    with pytest.raises(RuntimeError, match="server: it exited"):
        wait_until(ready, what="server", timeout=60, alive=lambda: "it exited")
    assert len(calls) == 1
