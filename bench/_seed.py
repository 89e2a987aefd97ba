"""Seeding for the benchmarks: images through the application's own store code, throw-away databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import psycopg
from _common import Credentials
from sqlalchemy import make_url

from scp_images.domain.image import Image, ImageStatus, Visibility, new_image_id
from scp_images.store.sql import images as image_store

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BATCH = 1000
T0 = datetime(2026, 1, 1)


def bench_image(owner: str, index: int) -> Image:
    """An active image shaped like a real one (hashes, sizes, SCP fields); every 4th is public."""
    created = T0 + timedelta(seconds=index * 37)
    return Image(
        id=new_image_id(),
        name=f"bench-{index:05d}",
        owner=owner,
        status=ImageStatus.ACTIVE,
        visibility=Visibility.PUBLIC if index % 4 == 0 else Visibility.PRIVATE,
        created_at=created,
        updated_at=created,
        os_distro="ubuntu",
        scp_os_version="22.04",
        scp_image_type="custom",
        size=2 << 30,
        virtual_size=20 << 30,
        min_disk=20,
        checksum=f"{index:032x}",
        os_hash_algo="sha512",
        os_hash_value=f"{index:0128x}",
    )


def seed_images(parts: Any, count: int) -> tuple[Credentials, list[str]]:
    """An account, a key and ``count`` images it owns, inserted ``BATCH`` per transaction."""
    account = parts.accounts.create_account("bench")
    key = parts.accounts.create_key(account.id, "bench@example.com")
    ids: list[str] = []
    for start in range(0, count, BATCH):
        with parts.db.transaction() as conn:
            for index in range(start, min(start + BATCH, count)):
                image = bench_image(account.id, index)
                image_store.insert_image(conn, image)
                ids.append(image.id)
    return Credentials(key.access_key, key.secret_key, account.id), ids


def admin_url() -> str:
    return os.environ.get("SCP_IMAGES_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (SQLAlchemy URL), dropped on the way out."""
    name = f"scp_images_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq(admin_url()), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq(admin_url()), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(f"dropped database {name}", flush=True)
