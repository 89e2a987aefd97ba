"""Readiness: can this process reach its database and its blob store?"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from scp_images.store.blob.base import BlobStore
from scp_images.store.sql import imports as job_store
from scp_images.store.sql.database import Database


@dataclass(frozen=True, slots=True)
class Readiness:
    database: str
    blob_store: str

    @property
    def ready(self) -> bool:
        return self.database == "ok" and self.blob_store == "ok"


class HealthService:
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self._db = db
        self._blobs = blobs

    def readiness(self) -> Readiness:
        return Readiness(self._check_database(), self._check_blobs())

    def _check_database(self) -> str:
        try:
            with self._db.read() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means "not ready"; the text says which
            return f"unreachable: {type(exc).__name__}"
        return "ok"

    def _check_blobs(self) -> str:
        try:
            self._blobs.check()
        except Exception as exc:
            return f"unreachable: {type(exc).__name__}"
        return "ok"

    def import_queue_depth(self) -> int:
        try:
            with self._db.read() as conn:
                return job_store.queue_depth(conn)
        except Exception:
            return -1
