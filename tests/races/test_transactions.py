"""A check-then-write is atomic on the embedded default as on PostgreSQL: delete refuses a protected image
even when ``protected`` is set between the delete's check and its write."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from scp_images.app import Components, build_components
from scp_images.config import Settings
from scp_images.domain.errors import DomainError
from scp_images.domain.image import ImageSpec
from scp_images.domain.principal import Principal
from scp_images.store.sql import images as image_store

# How long the delete, having checked, waits for the update to land. Long enough that an update that
# is not held back by the delete's transaction lands (it takes milliseconds).
WINDOW = 1.5


@pytest.fixture
def parts(settings: Settings) -> Iterator[Components]:
    built = build_components(settings)
    yield built
    built.close()


def owner(parts: Components) -> Principal:
    account = parts.accounts.create_account("tx")
    return parts.accounts.create_key(account.id, "tx@example.com").principal()


def outcome(fn: Any, *args: Any) -> str:
    try:
        fn(*args)
    except DomainError as exc:
        return exc.code
    return "ok"


@pytest.mark.parametrize("round_", range(3))
def test_delete_and_protect_at_once_never_delete_a_protected_image(
    parts: Components, monkeypatch: pytest.MonkeyPatch, round_: int
) -> None:
    principal = owner(parts)
    image = parts.images.create(principal, ImageSpec(name="guarded", os_distro="ubuntu", url=None))
    checked, updated = threading.Event(), threading.Event()
    real_delete = image_store.delete_image

    def delete_after_the_update(conn: Any, image_id: str) -> bool:
        checked.set()  # the delete has read the image and found it unprotected
        updated.wait(WINDOW)
        return real_delete(conn, image_id)

    monkeypatch.setattr(image_store, "delete_image", delete_after_the_update)
    results: dict[str, str] = {}
    deleter = threading.Thread(
        target=lambda: results.__setitem__("delete", outcome(parts.images.delete, principal, image.id))
    )
    deleter.start()
    assert checked.wait(10)
    results["update"] = outcome(parts.images.update, principal, image.id, {"protected": True})
    updated.set()
    deleter.join(30)
    with parts.db.read() as conn:
        stored = image_store.get_image(conn, image.id)
    if results["update"] == "ok":
        # The update was applied, so it came first and the delete must have refused.
        assert stored is not None and stored.protected, results
        assert results["delete"] == "virtualserver.image.Protected", results
    else:
        # The delete came first: the update saw no image, or lost its compare-and-set.
        assert stored is None and results["delete"] == "ok", results
        assert results["update"] in ("virtualserver.image.NotFound", "virtualserver.image.ConcurrentUpdate")
