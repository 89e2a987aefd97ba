"""Throw-away PostgreSQL databases for tests (SCP_IMAGES_TEST_POSTGRES_URL, default the local server)."""

from __future__ import annotations

import os
import uuid

import psycopg
from sqlalchemy import make_url

from tests.support.tools import in_ci

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get("SCP_IMAGES_TEST_POSTGRES_URL", DEFAULT_URL)


def required() -> bool:
    """PostgreSQL down fails the tests that need it (instead of skipping them): asked for, or in CI."""
    return os.environ.get("SCP_IMAGES_REQUIRE_POSTGRES") == "1" or in_ci()


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def reachable() -> str | None:
    """None when reachable, else why not."""
    try:
        with psycopg.connect(_libpq(admin_url()), connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def create_database(template: str | None = None) -> str:
    name = f"scp_images_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(admin_url()), autocommit=True) as conn:
        clause = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{clause}')
    return make_url(admin_url()).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(_libpq(admin_url()), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
