"""A live server seeded with real images, for the conformance and hostile tests.

Two accounts: ``caller`` (the key the tests sign with, allowed every action, no rate limit) and ``other``.
Images are real qcow2 files imported in-process: the caller owns a private, a protected and a shared image
(``other`` is a member); ``other`` owns a public image and a shared image with ``caller`` as member.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scp_images.config import Settings
from tests.api.helpers import publish
from tests.support import postgres
from tests.support.stack import Key, Stack, start_stack
from tests.support.tools import require_qemu, run_tool

# Object storage settings that make SCP Object Storage URLs acceptable to POST /v1/images; nothing is
# ever read from them because the stack runs no import jobs.
UNUSED_OBJECT_STORAGE = {
    "s3_endpoint_url": "http://127.0.0.1:9",
    "s3_access_key_id": "unused",
    "s3_secret_access_key": "unused",
    "s3_region": "kr-west1",
}


@dataclass
class Seeded:
    stack: Stack
    caller: Key
    other: Key
    own: dict[str, str] = field(default_factory=dict)  # label -> image id owned by the caller
    foreign: dict[str, str] = field(default_factory=dict)  # label -> image id owned by ``other``

    @property
    def all_ids(self) -> list[str]:
        return [*self.own.values(), *self.foreign.values()]


def seeded_settings(data_dir: Path, **more: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": f"sqlite:///{data_dir / 'meta.db'}",
        "run_import_jobs": False,
        **UNUSED_OBJECT_STORAGE,
        **more,
    }
    return Settings(**values)


def make_qcow2(path: Path, size: str = "16M") -> Path:
    require_qemu()
    run_tool("qemu-img", "create", "-q", "-f", "qcow2", str(path), size)
    run_tool("qemu-io", "-c", "write -P 0x5a 0 64k", str(path))
    return path


def _add_member(stack: Stack, owner: Key, image_id: str, member_id: str) -> None:
    response = stack.request("POST", f"/v1/images/{image_id}/members", owner, json={"member_id": member_id})
    assert response.status_code == 200, response.text


def start_seeded(data_dir: Path, **settings: Any) -> Seeded:
    data_dir.mkdir(parents=True, exist_ok=True)
    stack = start_stack(seeded_settings(data_dir, **settings))
    try:
        caller, other = stack.new_account("caller"), stack.new_account("other")
        seeded = Seeded(stack, caller, other)
        disk = make_qcow2(data_dir / "disk.qcow2")
        plan = [
            (seeded.own, "private", caller, "private", {}),
            (seeded.own, "protected", caller, "private", {"protected": True}),
            (seeded.own, "shared", caller, "shared", {}),
            (seeded.foreign, "public", other, "public", {}),
            (seeded.foreign, "shared", other, "shared", {}),
        ]
        for target, label, owner, visibility, extra in plan:
            image = publish(stack, disk, owner.account_id, visibility, name=f"seed-{label}", **extra)
            target[label] = image["id"]
        _add_member(stack, caller, seeded.own["shared"], other.account_id)
        _add_member(stack, other, seeded.foreign["shared"], caller.account_id)
    except BaseException:
        stack.stop()
        raise
    return seeded


@contextmanager
def seeded_stack(
    request: pytest.FixtureRequest, data_dir: Path, backend: str, **settings: Any
) -> Iterator[Seeded]:
    """A seeded stack on ``backend`` ("sqlite" or "postgres": a database cloned from the session's
    migrated template, so the test is skipped like the others when PostgreSQL is not reachable)."""
    database = None
    if backend == "postgres":
        database = postgres.create_database(request.getfixturevalue("postgres_template"))
        settings["database_url"] = database
    try:
        running = start_seeded(data_dir, **settings)
        try:
            yield running
        finally:
            running.stack.stop()
    finally:
        if database is not None:
            postgres.drop_database(database)
