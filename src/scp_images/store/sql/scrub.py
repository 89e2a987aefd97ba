"""The integrity scrub's rows: the data flag of an image, the per-image claim and the current cycle.

An image is *due* in cycle ``c`` while it is active and its ``scrub_cycle`` is below ``c``. A worker claims a
due image by compare-and-set (no live claim, still due), with an expiry it renews while it reads; finishing
records the cycle, so with any number of workers each image is checked once per cycle. A claim whose worker
died expires and the image is claimed again. ``scrub_claimed_until`` without ``scrub_claimed_by`` means
"retry after": the store could not be read, so the image waits and is not counted against the cycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from scp_images.domain.image import DataFlag, Image, ImageStatus
from scp_images.store.sql import images as image_store
from scp_images.store.sql.tables import images, scrub_state

_STATE_ID = 1


def current_cycle(conn: Connection) -> tuple[int, datetime]:
    row = conn.execute(select(scrub_state).where(scrub_state.c.id == _STATE_ID)).one()
    return int(row.cycle), row.started_at


def _checkable() -> Any:
    return and_(images.c.status == ImageStatus.ACTIVE.value, images.c.blob_key.is_not(None))


def _free(now: datetime) -> Any:
    """No live claim and no retry wait."""
    return or_(images.c.scrub_claimed_until.is_(None), images.c.scrub_claimed_until < now)


def claim_next(
    conn: Connection, cycle: int, worker: str, now: datetime, until: datetime, *, skip_locked: bool
) -> Image | None:
    """Claim one image due in ``cycle``, or None when none is free."""
    due = and_(_checkable(), images.c.scrub_cycle < cycle, _free(now))
    query = select(images.c.id).where(due).order_by(images.c.scrub_cycle, images.c.id).limit(8)
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    for (image_id,) in conn.execute(query).all():
        won = conn.execute(
            update(images)
            .where(images.c.id == image_id, due)
            .values(scrub_claimed_by=worker, scrub_claimed_until=until)
        ).rowcount
        if won == 1:
            return image_store.get_image(conn, image_id)
    return None


def _claimed(image_id: str, worker: str) -> Any:
    return and_(images.c.id == image_id, images.c.scrub_claimed_by == worker)


def renew(conn: Connection, image_id: str, worker: str, until: datetime) -> bool:
    query = update(images).where(_claimed(image_id, worker)).values(scrub_claimed_until=until)
    return conn.execute(query).rowcount == 1


def finish(conn: Connection, image_id: str, worker: str, cycle: int, now: datetime) -> bool:
    """Record the check for ``cycle``; False when the claim was lost (expired and taken) meanwhile."""
    query = (
        update(images)
        .where(_claimed(image_id, worker))
        .values(scrub_cycle=cycle, scrub_claimed_by=None, scrub_claimed_until=None, scrubbed_at=now)
    )
    return conn.execute(query).rowcount == 1


def retry_after(conn: Connection, image_id: str, worker: str, when: datetime) -> None:
    query = (
        update(images)
        .where(_claimed(image_id, worker))
        .values(scrub_claimed_by=None, scrub_claimed_until=when)
    )
    conn.execute(query)


def busy(conn: Connection, cycle: int, now: datetime) -> int:
    """Images that keep ``cycle`` open: due and free, or claimed by a live worker (retry waits do not)."""
    # Spelled out with IS NOT NULL: a NULL comparison inside NOT would drop the unclaimed rows.
    waiting = and_(
        images.c.scrub_claimed_by.is_(None),
        images.c.scrub_claimed_until.is_not(None),
        images.c.scrub_claimed_until >= now,
    )
    query = (
        select(func.count()).select_from(images).where(_checkable(), images.c.scrub_cycle < cycle, ~waiting)
    )
    return int(conn.execute(query).scalar_one())


def advance(conn: Connection, seen: int, now: datetime, started_before: datetime) -> bool:
    """Begin cycle ``seen + 1`` if ``seen`` is still current and began before ``started_before``: one
    worker wins the compare-and-set."""
    query = (
        update(scrub_state)
        .where(
            scrub_state.c.id == _STATE_ID,
            scrub_state.c.cycle == seen,
            scrub_state.c.started_at <= started_before,
        )
        .values(cycle=seen + 1, started_at=now)
    )
    return conn.execute(query).rowcount == 1


def set_flag(conn: Connection, image_id: str, key: str, flag: DataFlag, now: datetime) -> bool:
    """Flag the image's data, while it is still active with the bytes that were checked."""
    query = (
        update(images)
        .where(images.c.id == image_id, images.c.blob_key == key, images.c.status == ImageStatus.ACTIVE.value)
        .values(data_flag=flag.value, data_flagged_at=now)
    )
    return conn.execute(query).rowcount == 1


def clear_flag(conn: Connection, image_id: str, key: str) -> bool:
    query = (
        update(images)
        .where(images.c.id == image_id, images.c.blob_key == key, images.c.data_flag.is_not(None))
        .values(data_flag=None, data_flagged_at=None)
    )
    return conn.execute(query).rowcount == 1


def checkable_images(conn: Connection, image_id: str | None = None) -> list[Image]:
    """Active images with stored data (one when ``image_id`` is given), in id order."""
    query = select(images.c.id).where(_checkable()).order_by(images.c.id)
    if image_id is not None:
        query = query.where(images.c.id == image_id)
    found = [image_store.get_image(conn, row.id) for row in conn.execute(query)]
    return [image for image in found if image is not None]
