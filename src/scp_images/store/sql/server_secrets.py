"""Secrets the server generates for itself (``server_secrets``), stored as given (possibly encrypted)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from scp_images.store.sql.tables import server_secrets


def get_secret(conn: Connection, name: str) -> str | None:
    query = select(server_secrets.c.secret).where(server_secrets.c.name == name)
    return conn.execute(query).scalar_one_or_none()


def insert_secret(conn: Connection, name: str, stored: str, created_at: datetime) -> None:
    conn.execute(insert(server_secrets).values(name=name, secret=stored, created_at=created_at))


def list_secrets(conn: Connection) -> list[tuple[str, str]]:
    """(name, stored secret) of every server secret."""
    rows = conn.execute(
        select(server_secrets.c.name, server_secrets.c.secret).order_by(server_secrets.c.name)
    )
    return [(r.name, r.secret) for r in rows]


def replace_secret(conn: Connection, name: str, old: str, new: str) -> bool:
    """Compare-and-set of a stored secret: False when the row changed since it was read."""
    result = conn.execute(
        update(server_secrets)
        .where(server_secrets.c.name == name, server_secrets.c.secret == old)
        .values(secret=new)
    )
    return result.rowcount == 1
