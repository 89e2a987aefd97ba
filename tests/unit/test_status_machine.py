"""The one status machine: the domain's table decides, ``move`` applies it by compare-and-set, and no
other code writes an image's status."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scp_images.domain.errors import InvalidImageStatus
from scp_images.domain.image import ImageSpec, ImageStatus, can_transition, check_transition, new_image
from scp_images.store.sql import images as image_store
from scp_images.store.sql.database import Database, create_db_engine, migrate

SRC = Path(__file__).resolve().parents[2] / "src" / "scp_images"
STATUSES = list(ImageStatus)


def test_active_only_deactivates_and_every_status_is_reachable_from_queued() -> None:
    assert [s for s in STATUSES if can_transition(ImageStatus.ACTIVE, s)] == [ImageStatus.DEACTIVATED]
    assert [s for s in STATUSES if can_transition(ImageStatus.DEACTIVATED, s)] == [ImageStatus.ACTIVE]
    reached, frontier = {ImageStatus.QUEUED}, [ImageStatus.QUEUED]
    while frontier:
        current = frontier.pop()
        for target in STATUSES:
            if can_transition(current, target) and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(STATUSES)


def test_a_refused_move_names_the_statuses_that_would_allow_it() -> None:
    with pytest.raises(InvalidImageStatus) as refused:
        check_transition("i", ImageStatus.ACTIVE, ImageStatus.KILLED)
    assert refused.value.params["expected"] == "importing, queued"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    engine = create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('status') / 'm.db'}")
    migrate(engine)
    yield Database(engine)
    engine.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(STATUSES), st.sampled_from(STATUSES)), max_size=12))
def test_move_follows_the_table_and_only_from_the_current_status(
    db: Database, moves: list[tuple[ImageStatus, ImageStatus]]
) -> None:
    image = new_image(ImageSpec("m", "a" * 32, "ubuntu"), datetime(2026, 1, 1))
    with db.transaction() as conn:
        image_store.insert_image(conn, image)
    current = ImageStatus.QUEUED
    for source, target in moves:
        with db.transaction() as conn:
            if not can_transition(source, target):
                with pytest.raises(InvalidImageStatus):
                    image_store.move(conn, image.id, source, target)
                continue
            applied = image_store.move(conn, image.id, source, target)
        assert applied == (source is current)
        if applied:
            current = target
        with db.read() as conn:
            stored = image_store.get_image(conn, image.id)
        assert stored is not None and stored.status is current


def test_update_image_cannot_change_the_status(db: Database) -> None:
    with db.transaction() as conn, pytest.raises(AssertionError):
        image_store.update_image(conn, "x", {"status": ImageStatus.ACTIVE})


def test_no_code_outside_move_writes_an_image_status() -> None:
    """Status writes are ``values(status=…)`` on the images table or a ``"status": ImageStatus…`` change."""
    offenders = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        if re.search(r"[\"']status[\"']\s*:\s*ImageStatus", text):
            offenders.append(f"{path.name}: a status in a change set")
        # Other stores may keep their own columns of an image (the scrub's claim and flag), never its status.
        updates = path.name != "images.py" and re.search(r"update\(images\)", text)
        if updates and re.search(r"\.values\([^)]*\bstatus\s*=", text, re.DOTALL):
            offenders.append(f"{path.name}: writes the images table's status directly")
    assert offenders == []
