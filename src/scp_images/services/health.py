"""Readiness: can this process reach its database and its blob store, and is the schema new enough?"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import text

from scp_images.services.clock import Clock, system_clock
from scp_images.store.blob.base import BlobStore
from scp_images.store.sql import imports as job_store
from scp_images.store.sql.database import Database, schema_problem_now


@dataclass(frozen=True, slots=True)
class Readiness:
    database: str
    blob_store: str
    schema: str = "ok"

    @property
    def ready(self) -> bool:
        return self.database == "ok" and self.blob_store == "ok" and self.schema == "ok"


@dataclass(frozen=True, slots=True)
class QueueReading:
    """Import jobs waiting for a runner, and for how long the oldest has waited (0 when none waits);
    both -1 when the database cannot be read."""

    depth: int
    age_seconds: float


class HealthService:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        *,
        schema_check_seconds: float = 5.0,
        clock: Clock = system_clock,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._clock = clock
        self._schema_every = schema_check_seconds
        self._schema: tuple[float, str] | None = None  # (checked at, verdict)
        self._lock = threading.Lock()

    def readiness(self) -> Readiness:
        database = self._check_database()
        schema = self._check_schema() if database == "ok" else "unknown"
        return Readiness(database, self._check_blobs(), schema)

    def _check_schema(self) -> str:
        """ "ok" unless the schema is older than this code (a newer one is a rolling upgrade: still ok).
        Readiness probes come every few seconds from every balancer: the verdict is kept a few seconds."""
        now = time.monotonic()
        with self._lock:
            if self._schema is not None and now - self._schema[0] < self._schema_every:
                return self._schema[1]
        try:
            with self._db.read() as conn:
                problem = schema_problem_now(conn)
        except Exception as exc:
            return f"unreachable: {type(exc).__name__}"
        verdict = "ok" if problem is None else "older than this code: run the migrations"
        with self._lock:
            self._schema = (now, verdict)
        return verdict

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

    def import_queue(self) -> QueueReading:
        try:
            with self._db.read() as conn:
                depth, oldest = job_store.pending_queue(conn)
        except Exception:
            return QueueReading(-1, -1.0)
        age = 0.0 if oldest is None else max(0.0, (self._clock() - oldest).total_seconds())
        return QueueReading(depth, age)
