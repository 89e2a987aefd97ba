"""SCP ``tags`` on Create Image: checked (at most 50, key 1..128 and value up to 256 characters, else
400), and kept as the image's string tags (``key=value``), which the OpenStack Image API shows; no SCP
response shows them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update

from scp_images.store.sql.tables import images
from tests.support.stack import Key, Stack

# Accepted without reading anything: the stack runs no import jobs.
URL = "https://object-store.kr-west1.e.samsungsdscloud.com/8989447062e04a818baf9e073fd04fa7/bucket/d.qcow2"
UNUSED_S3 = {"s3_endpoint_url": "http://127.0.0.1:9", "s3_access_key_id": "x", "s3_secret_access_key": "x"}


@pytest.fixture
def settings(settings: Any) -> Any:
    return settings.model_copy(update={"run_import_jobs": False, **UNUSED_S3})


@pytest.fixture
def owner(stack: Stack) -> Key:
    # The URL's own account, with a grant on its bucket: the import source is the caller's to read.
    key = stack.new_account("owner", account_id="8989447062e04a818baf9e073fd04fa7")
    stack.grant(key, "bucket")
    return key


def _create(stack: Stack, key: Key, tags: Any) -> Any:
    body = {"name": "tagged", "os_distro": "ubuntu", "url": URL, "tags": tags}
    return stack.request("POST", "/v1/images", key, json=body)


def _rows(stack: Stack) -> int:
    with stack.components.db.transaction() as conn:
        return int(conn.execute(select(func.count()).select_from(images)).scalar_one())


@pytest.mark.parametrize(
    "tags",
    [
        [{"key": f"k{i}", "value": "v"} for i in range(51)],
        [{"key": "k" * 129, "value": "v"}],
        [{"key": "", "value": "v"}],
        [{"key": "k", "value": "v" * 257}],
        [{"key": 1, "value": "v"}],
        [{"value": "no key"}],
        {"key": "k"},
    ],
    ids=["51-tags", "long-key", "empty-key", "long-value", "number-key", "no-key", "not-a-list"],
)
def test_tags_beyond_the_bounds_are_400_and_leave_nothing(stack: Stack, owner: Key, tags: Any) -> None:
    response = _create(stack, owner, tags)
    assert response.status_code == 400, response.text
    assert "tags" in response.json()["errors"][0]["detail"]
    assert _rows(stack) == 0


def test_tags_at_the_bounds_are_kept_as_string_tags(stack: Stack, owner: Key) -> None:
    tags = [{"key": f"{i:03d}" + "k" * 125, "value": "v" * 256} for i in range(50)]
    tags[0] = {"key": "team"}  # no value: the key alone
    response = _create(stack, owner, tags)
    assert response.status_code == 200, response.text
    assert "tags" not in response.json()
    with stack.components.db.transaction() as conn:
        stored = conn.execute(select(images.c.tags).where(images.c.id == response.json()["id"])).scalar_one()
    assert stored == ["team", *(f"{t['key']}={t['value']}" for t in tags[1:])]


def test_rows_with_tag_objects_from_before_still_show(stack: Stack, owner: Key) -> None:
    """Rows written before tags were kept as strings may hold SCP tag objects: they are not tags."""
    image_id = _create(stack, owner, [{"key": "team", "value": "a"}]).json()["id"]
    with stack.components.db.transaction() as conn:
        conn.execute(update(images).values(tags=[{"key": "k", "value": "v"}, "kept"]))
    assert stack.request("GET", f"/v1/images/{image_id}", owner).status_code == 200
    image = stack.components.images.show(
        stack.components.accounts.list_keys(owner.account_id)[0].principal(), image_id
    )
    assert image.tags == ("kept",)
