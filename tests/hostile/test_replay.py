"""Replay protection: with ``replay_protection`` a signed request is good once within the window; without it
(the default) the same signed request may be sent again, as SCP clients' retries do."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conformance.seed import CALLER_ACCOUNT, GRANTED_BUCKET, Seeded, start_seeded
from tests.hostile.wire import assert_refused, client, signed_headers, url

OBJECT_URL = f"https://object-store.kr-west1.e.samsungsdscloud.com/{CALLER_ACCOUNT}/{GRANTED_BUCKET}/r.qcow2"


@pytest.fixture(scope="module", params=[True, False], ids=["replay-protection", "default"])
def replay_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    running = start_seeded(tmp_path_factory.mktemp("replay"), replay_protection=request.param)
    yield running
    running.stack.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with client() as raw:
        yield raw


def protected(seeded: Seeded) -> bool:
    return bool(seeded.stack.settings.replay_protection)


def test_same_signed_show_twice(replay_stack: Seeded, http: httpx.Client) -> None:
    target = url(replay_stack.stack.base_url, f"/v1/images/{replay_stack.own['private']}")
    headers = signed_headers("GET", target, replay_stack.caller)
    first = http.get(target, headers=headers)
    second = http.get(target, headers=headers)
    assert first.status_code == 200, first.text
    if protected(replay_stack):
        assert_refused(second, 401)
        assert second.json()["errors"][0]["code"] == "virtualserver.auth.Unauthenticated"
    else:
        assert second.status_code == 200, second.text
        assert second.json() == first.json()


def test_a_new_signature_is_accepted_again(replay_stack: Seeded, http: httpx.Client) -> None:
    """Each attempt signed anew (another timestamp) passes: that is how SCP clients retry."""
    target = url(replay_stack.stack.base_url, f"/v1/images/{replay_stack.own['private']}")
    start = int(time.time() * 1000)
    for offset in range(3):
        headers = signed_headers("GET", target, replay_stack.caller, timestamp_ms=start + offset)
        response = http.get(target, headers=headers)
        assert response.status_code == 200, response.text


def test_replayed_create_makes_one_image_only_when_protected(
    replay_stack: Seeded, http: httpx.Client
) -> None:
    target = url(replay_stack.stack.base_url, "/v1/images")
    headers = [*signed_headers("POST", target, replay_stack.caller), ("Content-Type", "application/json")]
    body = json.dumps({"name": "replayed", "os_distro": "ubuntu", "url": OBJECT_URL}).encode()
    first = http.post(target, headers=headers, content=body)
    second = http.post(target, headers=headers, content=body)
    assert first.status_code == 200, first.text
    if protected(replay_stack):
        assert_refused(second, 401)
    else:
        assert second.status_code == 200, second.text
        assert second.json()["id"] != first.json()["id"]
