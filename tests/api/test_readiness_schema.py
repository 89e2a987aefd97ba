"""``/readyz`` looks at the schema at request time (cached a few seconds): older than the code is not ready
(the migrations of this release have not run), newer is ready (a rolling upgrade: this code keeps serving on
a schema a newer release extended additively)."""

from __future__ import annotations

import time

from sqlalchemy import text

from scp_images.store.sql.database import code_revisions
from tests.support.stack import Stack
from tests.support.tools import wait_until

PATIENCE = 30.0  # the verdict is cached for 5 s; the rest is for a loaded machine


def _stamp(stack: Stack, revision: str) -> None:
    with stack.components.db.transaction() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def _ready_becomes(stack: Stack, status: int) -> dict[str, str]:
    answer = wait_until(
        lambda: stack.http.get(stack.base_url + "/readyz"),
        accept=lambda answer: answer.status_code == status,
        what=f"/readyz answering {status}",
        timeout=PATIENCE,
        interval=0.2,
    )
    return answer.json()  # type: ignore[no-any-return]


def test_ready_only_while_the_schema_is_not_older_than_the_code(stack: Stack) -> None:
    (head,) = code_revisions()[0]
    assert _ready_becomes(stack, 200)["schema"] == "ok"
    _stamp(stack, "0004")  # as if this release's migrations had not run
    body = _ready_becomes(stack, 503)
    assert body["status"] == "unavailable" and body["schema"].startswith("older than this code")
    assert body["database"] == "ok" and body["blob_store"] == "ok"
    _stamp(stack, head)
    everything_ok = {"status": "ok", "database": "ok", "blob_store": "ok", "schema": "ok"}
    assert _ready_becomes(stack, 200) == everything_ok


def test_a_newer_additive_schema_stays_ready_and_served(stack: Stack) -> None:
    """A future release added a table and a column with a default, and moved the revision on."""
    key = stack.new_account("rolling")
    with stack.components.db.transaction() as conn:
        conn.execute(text("CREATE TABLE future_things (id VARCHAR(32) PRIMARY KEY, note TEXT)"))
        conn.execute(text("ALTER TABLE images ADD COLUMN future_note VARCHAR(64) DEFAULT 'later' NOT NULL"))
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:  # across the cache's lifetime: never 503
        answer = stack.http.get(stack.base_url + "/readyz")
        assert answer.status_code == 200, answer.text
        time.sleep(0.5)
    created = stack.request(
        "POST", "/v1/images", key, params={"source": "upload"}, json={"name": "n", "os_distro": "ubuntu"}
    )
    assert created.status_code == 200, created.text
    listed = stack.request("GET", "/v1/images", key, params={"visibility": "private"})
    shown = stack.request("GET", f"/v1/images/{created.json()['id']}", key)
    assert listed.status_code == 200 and shown.status_code == 200, (listed.text, shown.text)
