"""Import source grants: (account, bucket, prefix) rows written by operators, read before every import."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from scp_images.domain.sources import SourceGrant
from scp_images.store.sql.tables import import_grants

_ORDER = (import_grants.c.account_id, import_grants.c.bucket, import_grants.c.prefix)


def _grant(row: Any) -> SourceGrant:
    return SourceGrant(row.account_id, row.bucket, row.prefix)


def _matches(grant: SourceGrant) -> Any:
    return (
        (import_grants.c.account_id == grant.account_id)
        & (import_grants.c.bucket == grant.bucket)
        & (import_grants.c.prefix == grant.prefix)
    )


def add_grant(conn: Connection, grant: SourceGrant, now: datetime) -> bool:
    """Insert the grant; False when it existed already (two operators granting at once both succeed)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    query = (
        dialect.insert(import_grants)
        .values(account_id=grant.account_id, bucket=grant.bucket, prefix=grant.prefix, created_at=now)
        .on_conflict_do_nothing()
    )
    return conn.execute(query).rowcount == 1


def delete_grant(conn: Connection, grant: SourceGrant) -> bool:
    return conn.execute(delete(import_grants).where(_matches(grant))).rowcount == 1


def grants_on(conn: Connection, account_id: str, bucket: str) -> list[SourceGrant]:
    """The account's grants on one bucket: all an import from that bucket needs to be decided."""
    query = select(import_grants).where(
        import_grants.c.account_id == account_id, import_grants.c.bucket == bucket
    )
    return [_grant(row) for row in conn.execute(query.order_by(*_ORDER))]


def list_grants(conn: Connection, account_id: str | None = None) -> list[SourceGrant]:
    query = select(import_grants).order_by(*_ORDER)
    if account_id is not None:
        query = query.where(import_grants.c.account_id == account_id)
    return [_grant(row) for row in conn.execute(query)]
