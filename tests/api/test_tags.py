"""SCP ``tags`` on Create Image: checked (at most 50, key 1..128 and value up to 256 characters, else
400), and not kept: no SCP response shows them, so they are neither stored nor read back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select, update

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


def test_tags_at_the_bounds_are_accepted_but_not_stored(stack: Stack, owner: Key) -> None:
    tags = [{"key": f"{i:03d}" + "k" * 125, "value": "v" * 256} for i in range(50)]
    response = _create(stack, owner, tags)
    assert response.status_code == 200, response.text
    assert "tags" not in response.json()
    with stack.components.db.transaction() as conn:
        stored = conn.execute(select(images.c.tags).where(images.c.id == response.json()["id"])).scalar_one()
    assert stored == []


@pytest.fixture
def image_selects(stack: Stack) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM images" in statement:
            seen.append(statement)

    engine = stack.components.db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_show_and_list_never_read_the_tags_column(stack: Stack, owner: Key, image_selects: list[str]) -> None:
    image_id = _create(stack, owner, [{"key": "team", "value": "a"}]).json()["id"]
    # Rows written before this change kept their tags: they are never loaded, whatever their size.
    with stack.components.db.transaction() as conn:
        conn.execute(update(images).values(tags=[{"key": "k" * 1000, "value": "v" * 100_000}]))
    image_selects.clear()
    assert stack.request("GET", f"/v1/images/{image_id}", owner).status_code == 200
    listed = stack.request("GET", "/v1/images", owner)
    assert [i["id"] for i in listed.json()["images"]] == [image_id]
    assert image_selects and not any("images.tags" in s or " tags" in s for s in image_selects)
