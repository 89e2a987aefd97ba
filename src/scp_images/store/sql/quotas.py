"""Quota rows and counting: an account's overrides, its usage, and the lock that makes check-then-insert
atomic across processes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, case, delete, func, insert, select, update

from scp_images.domain.image import ImageStatus
from scp_images.domain.jobs import IN_FLIGHT
from scp_images.domain.quotas import Overrides, Usage
from scp_images.store.sql.tables import account_quotas, accounts, image_imports, images


def lock_account(conn: Connection, account_id: str) -> bool:
    """Serialise quota decisions of one account until the transaction ends: the account's row ``FOR NO KEY
    UPDATE`` on PostgreSQL (every process waits on the same row, while inserts of rows referencing the
    account, such as keys, do not); on SQLite a writing transaction holds the database's write lock
    already (``BEGIN IMMEDIATE``). False when there is no such account."""
    query = select(accounts.c.id).where(accounts.c.id == account_id).with_for_update(key_share=True)
    return conn.execute(query).first() is not None


def usage(conn: Connection, account_id: str, *, except_image: str | None = None) -> Usage:
    """What counts against the account's limits now; ``except_image``'s own import is left out (it is the
    one being decided)."""
    active = case((images.c.status == ImageStatus.ACTIVE.value, images.c.size), else_=0)
    totals = select(func.count(images.c.id), func.coalesce(func.sum(active), 0))
    count, stored = conn.execute(totals.where(images.c.owner == account_id)).one()
    flight = and_(images.c.owner == account_id, image_imports.c.status.in_(IN_FLIGHT))
    if except_image is not None:
        flight = and_(flight, image_imports.c.image_id != except_image)
    held_bytes = func.coalesce(func.sum(image_imports.c.bytes_reserved), 0)
    running, held = conn.execute(
        select(func.count(image_imports.c.image_id), held_bytes)
        .select_from(image_imports.join(images, images.c.id == image_imports.c.image_id))
        .where(flight)
    ).one()
    return Usage(int(count), int(stored) + int(held), int(running))


def get_overrides(conn: Connection, account_id: str) -> Overrides | None:
    row = conn.execute(select(account_quotas).where(account_quotas.c.account_id == account_id)).first()
    if row is None:
        return None
    return Overrides(row.image_count_total, row.image_size_total, row.image_count_uploading)


def put_overrides(conn: Connection, account_id: str, overrides: Overrides, now: datetime) -> None:
    """Insert or replace; the caller holds the account's lock, so two operators cannot both insert."""
    values = {
        "image_count_total": overrides.images,
        "image_size_total": overrides.bytes,
        "image_count_uploading": overrides.uploading,
        "updated_at": now,
    }
    where = account_quotas.c.account_id == account_id
    if conn.execute(update(account_quotas).where(where).values(**values)).rowcount == 0:
        conn.execute(insert(account_quotas).values(account_id=account_id, **values))


def delete_overrides(conn: Connection, account_id: str) -> bool:
    query = delete(account_quotas).where(account_quotas.c.account_id == account_id)
    return conn.execute(query).rowcount == 1
