"""Edits that rewrite a whole document (a JSON patch of the properties, a tag added or removed) never lose
each other's change: two of them at once, through the OpenStack edge of a live server, both land.

The race is made to happen: each edit, having read the image, waits at a barrier before it writes. Were the
read outside the row lock, both edits would pass the barrier with the same old document and the second
write would drop the first's change. With the read under the lock, the second edit waits for the lock, the
barrier times out (``WINDOW``) and the edits run one after the other."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from scp_images.store.sql import images as image_store
from tests.openstack.conftest import token
from tests.support.stack import Stack

PATCH = "application/openstack-images-v2.1-json-patch"
# How long an edit that has read waits for the other to have read too: the other edit's read takes
# milliseconds unless the row lock holds it back.
WINDOW = 1.5


def _hold_writes(monkeypatch: pytest.MonkeyPatch) -> threading.Barrier:
    barrier = threading.Barrier(2, timeout=WINDOW)
    real_update = image_store.update_image

    def update_when_both_have_read(conn: Any, image_id: str, values: dict[str, Any]) -> bool:
        # Broken: the other edit is held back by the lock (or has written already), so go on.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return real_update(conn, image_id, values)

    monkeypatch.setattr(image_store, "update_image", update_when_both_have_read)
    return barrier


def _at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    results: list[httpx.Response | BaseException] = [RuntimeError("not run")] * len(calls)

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except BaseException as exc:  # reported below
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


@pytest.fixture
def owner(stack: Stack) -> tuple[dict[str, str], str]:
    key = stack.new_account("rmw")
    headers = {"X-Auth-Token": token(stack, key)}
    created = stack.http.post(f"{stack.base_url}/image/v2/images", json={"name": "rmw"}, headers=headers)
    assert created.status_code == 201, created.text
    return headers, created.json()["id"]


def _image(stack: Stack, headers: dict[str, str], image_id: str) -> dict[str, Any]:
    response = stack.http.get(f"{stack.base_url}/image/v2/images/{image_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_two_patches_of_different_properties_both_land(
    stack: Stack, owner: tuple[dict[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    headers, image_id = owner
    _hold_writes(monkeypatch)
    url = f"{stack.base_url}/image/v2/images/{image_id}"

    def patch(name: str) -> Callable[[], httpx.Response]:
        body = [{"op": "add", "path": f"/{name}", "value": name.upper()}]
        return lambda: httpx.patch(url, json=body, headers={**headers, "Content-Type": PATCH}, timeout=30)

    first, second = _at_once(patch("team"), patch("build"))
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    image = _image(stack, headers, image_id)
    assert (image.get("team"), image.get("build")) == ("TEAM", "BUILD"), image


def test_two_tags_added_at_once_are_both_kept(
    stack: Stack, owner: tuple[dict[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    headers, image_id = owner
    _hold_writes(monkeypatch)
    url = f"{stack.base_url}/image/v2/images/{image_id}/tags"

    def add(tag: str) -> Callable[[], httpx.Response]:
        return lambda: httpx.put(f"{url}/{tag}", headers=headers, timeout=30)

    first, second = _at_once(add("blue"), add("green"))
    assert (first.status_code, second.status_code) == (204, 204), (first.text, second.text)
    assert sorted(_image(stack, headers, image_id)["tags"]) == ["blue", "green"]


def test_a_tag_removed_while_another_is_added_keeps_the_added_one(
    stack: Stack, owner: tuple[dict[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    headers, image_id = owner
    url = f"{stack.base_url}/image/v2/images/{image_id}/tags"
    assert stack.http.put(f"{url}/old", headers=headers).status_code == 204
    _hold_writes(monkeypatch)
    removed, added = _at_once(
        lambda: httpx.delete(f"{url}/old", headers=headers, timeout=30),
        lambda: httpx.put(f"{url}/new", headers=headers, timeout=30),
    )
    assert (removed.status_code, added.status_code) == (204, 204), (removed.text, added.text)
    assert _image(stack, headers, image_id)["tags"] == ["new"]
