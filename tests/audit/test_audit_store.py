"""Migration 0007 adds the trail to a database in use, and the trail cannot be rewritten."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import create_engine, insert, select, update
from sqlalchemy.exc import DBAPIError

from scp_images.domain.audit import ActorKind, AuditRecord
from scp_images.store.sql import audit as audit_store
from scp_images.store.sql.database import migrate
from scp_images.store.sql.tables import accounts, audit_records
from tests.api.test_schema import _revision, _upgrade, empty_database  # noqa: F401 - the fixture


def test_0007_adds_the_trail_and_keeps_rows(empty_database: str) -> None:  # noqa: F811
    engine = create_engine(empty_database)
    try:
        _upgrade(engine, "0004")
        with engine.begin() as conn:
            conn.execute(insert(accounts).values(id="a" * 32, name="kept", created_at=datetime(2026, 1, 1)))
        _upgrade(engine, "0007")
        assert _revision(engine) == "0007"
        with engine.begin() as conn:
            assert conn.execute(select(accounts.c.name)).scalar_one() == "kept"
            # The columns 0007 made (today's store writes the role of 0010 too).
            conn.execute(
                insert(audit_records).values(
                    at=datetime(2026, 1, 2),
                    actor_kind="operator",
                    action="account.create",
                    account_id="a" * 32,
                )
            )
            assert conn.execute(select(audit_records.c.account_id)).scalars().all() == ["a" * 32]
    finally:
        engine.dispose()


def test_a_record_cannot_be_updated(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            audit_store.insert_record(
                conn, AuditRecord(datetime(2026, 1, 2), ActorKind.API, "image.delete", status=204)
            )
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(update(audit_records).values(status=200))
        with engine.begin() as conn:
            assert [r.status for r in audit_store.list_records(conn)] == [204]
    finally:
        engine.dispose()
