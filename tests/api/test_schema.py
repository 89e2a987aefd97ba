"""The migrations build exactly the schema of ``store/sql/tables.py``; 0004 keeps existing rows, 0005 makes
the shared guard tables unlogged on PostgreSQL, 0011 makes existing import jobs tasks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, select, text

from scp_images.store.sql.database import _MIGRATIONS
from scp_images.store.sql.tables import access_keys, accounts, metadata, seen_signatures, server_secrets
from tests.support import postgres


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (the ``database_url`` fixture's PostgreSQL ones are migrated already)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("postgres_template")  # skips like the others when PostgreSQL is down
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)


def _revision(engine: object) -> str | None:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return MigrationContext.configure(conn).get_current_revision()  # type: ignore[no-any-return]


def _upgrade(engine: object, target: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:  # type: ignore[attr-defined]
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def test_0004_widens_the_secret_column_and_keeps_rows(empty_database: str) -> None:
    engine = create_engine(empty_database)
    try:
        _upgrade(engine, "0001")
        assert _revision(engine) == "0001"
        with engine.begin() as conn:
            conn.execute(insert(accounts).values(id="a" * 32, name="kept", created_at=datetime(2026, 1, 1)))
            conn.execute(
                insert(access_keys).values(
                    access_key="KEPT",
                    secret_key="plain",
                    account_id="a" * 32,
                    user_name="u",
                    enabled=True,
                    denied_actions=["virtualserver:ShowImage"],
                    created_at=datetime(2026, 1, 1),
                )
            )
        _upgrade(engine, "0004")
        assert _revision(engine) == "0004"
        with engine.begin() as conn:
            kept = (access_keys.c.access_key, access_keys.c.secret_key, access_keys.c.denied_actions)
            row = conn.execute(select(*kept)).one()
            assert (row.access_key, row.secret_key, row.denied_actions) == (
                "KEPT",
                "plain",
                ["virtualserver:ShowImage"],
            )
            conn.execute(access_keys.update().values(secret_key="t" * 512))  # fits now
        columns = {c["name"]: c for c in inspect(engine).get_columns("access_keys")}
        assert columns["secret_key"]["type"].length == 512
        foreign = inspect(engine).get_foreign_keys("access_keys")
        assert [(f["referred_table"], f["options"].get("ondelete")) for f in foreign] == [
            ("accounts", "CASCADE")
        ]
        assert any(i["column_names"] == ["account_id"] for i in inspect(engine).get_indexes("access_keys"))
    finally:
        engine.dispose()


def test_0010_makes_existing_keys_members_and_no_account_an_operator(empty_database: str) -> None:
    engine = create_engine(empty_database)
    try:
        _upgrade(engine, "0009")
        with engine.begin() as conn:
            conn.execute(insert(accounts).values(id="a" * 32, name="kept", created_at=datetime(2026, 1, 1)))
            conn.execute(
                insert(access_keys).values(
                    access_key="KEPT",
                    secret_key="plain",
                    account_id="a" * 32,
                    user_name="u",
                    enabled=True,
                    denied_actions=[],
                    created_at=datetime(2026, 1, 1),
                )
            )
        _upgrade(engine, "0010")
        with engine.begin() as conn:
            assert conn.execute(select(access_keys.c.role)).scalar_one() == "member"
            assert conn.execute(select(accounts.c.operator)).scalar_one() is False
            # The audit table was not rebuilt: its append-only trigger still refuses an UPDATE.
            conn.execute(
                text("INSERT INTO audit_records (at, actor_kind, action) VALUES ('2026-01-01', 'api', 'x')")
            )
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text("UPDATE audit_records SET role = 'admin'"))
    finally:
        engine.dispose()


def test_0011_starts_every_key_at_no_revocation_and_no_token_secret(empty_database: str) -> None:
    """Keys from before keep their tokens until their first disable; the first start generates the secret."""
    engine = create_engine(empty_database)
    try:
        _upgrade(engine, "0009")
        with engine.begin() as conn:
            conn.execute(insert(accounts).values(id="a" * 32, name="kept", created_at=datetime(2026, 1, 1)))
            conn.execute(
                insert(access_keys).values(
                    access_key="KEPT",
                    secret_key="plain",
                    account_id="a" * 32,
                    user_name="u",
                    enabled=False,
                    denied_actions=[],
                    created_at=datetime(2026, 1, 1),
                )
            )
        _upgrade(engine, "0011")
        with engine.begin() as conn:
            kept = conn.execute(select(access_keys.c.access_key, access_keys.c.revocations)).one()
            assert tuple(kept) == ("KEPT", 0)
            assert conn.execute(select(server_secrets)).all() == []
    finally:
        engine.dispose()


def test_0014_makes_existing_jobs_tasks_named_by_their_image(empty_database: str) -> None:
    engine = create_engine(empty_database)
    image_id, at = "0b5e8e3a-9d3c-4f7a-8a1e-2c4d6f8a0b1c", datetime(2026, 1, 1)
    try:
        _upgrade(engine, "0013")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO images (id, name, owner, status, visibility, protected, os_hidden,"
                    " container_format, disk_format, min_disk, min_ram, created_at, updated_at, tags)"
                    " VALUES (:id, 'n', :owner, 'active', 'private', false, false, 'bare', 'qcow2', 0, 0,"
                    " :at, :at, '[]')"
                ),
                {"id": image_id, "owner": "a" * 32, "at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO image_imports (image_id, source, status, bytes_read, attempts, created_at)"
                    " VALUES (:id, 'upload', 'succeeded', 0, 1, :at)"
                ),
                {"id": image_id, "at": at},
            )
        _upgrade(engine, "0014")
        with engine.begin() as conn:
            row = conn.execute(text("SELECT task_id, task_type, request_id FROM image_imports")).one()
        assert tuple(row) == (image_id, "api_image_import", None)
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_tables(empty_database: str) -> None:
    engine = create_engine(empty_database)
    try:
        _upgrade(engine, "head")
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_0005_makes_the_shared_guard_tables_unlogged_on_postgres(empty_database: str) -> None:
    """Seen signatures and rate state are rewritten on every request and worth nothing after a crash:
    on PostgreSQL they skip the WAL. SQLite has no such storage option; the tables are ordinary there."""
    engine = create_engine(empty_database)
    try:
        _upgrade(engine, "0004")
        with engine.begin() as conn:
            conn.execute(insert(seen_signatures).values(signature="s" * 64, expires_at=datetime(2026, 1, 1)))
        _upgrade(engine, "0005")
        assert {"rate_limits", "seen_signatures"} <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(select(seen_signatures.c.signature)).scalar() == "s" * 64  # kept
            if engine.dialect.name == "postgresql":
                query = text(
                    "SELECT relname, relpersistence FROM pg_class "
                    "WHERE relname IN ('rate_limits', 'seen_signatures')"
                )
                assert dict(conn.execute(query).all()) == {"rate_limits": "u", "seen_signatures": "u"}
    finally:
        engine.dispose()
