"""State every server process shares to guard the API: seen signatures (replay protection) and each
access key's rate-limit state. One statement per request each; see services/access/auth.py and
ratelimit.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, case, delete, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from scp_images.store.sql.tables import rate_limits, seen_signatures


def _insert(conn: Connection, table: object) -> object:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)  # type: ignore[arg-type]


def remember_signature(conn: Connection, digest: str, now: datetime, expires_at: datetime) -> bool:
    """True when ``digest`` was not seen (or only long enough ago to have expired): it is now.

    ``INSERT … ON CONFLICT DO UPDATE … WHERE expired``: the primary key decides between processes sending
    one signature at once, and an expired row nobody swept yet does not refuse a legitimate request."""
    statement = _insert(conn, seen_signatures).values(signature=digest, expires_at=expires_at)  # type: ignore[attr-defined]
    statement = statement.on_conflict_do_update(
        index_elements=[seen_signatures.c.signature],
        set_={"expires_at": statement.excluded.expires_at},
        where=seen_signatures.c.expires_at <= now,
    ).returning(seen_signatures.c.signature)
    return conn.execute(statement).first() is not None


def sweep_signatures(conn: Connection, now: datetime) -> tuple[int, datetime | None]:
    """Forget expired signatures; how many remain and when the oldest of them expires."""
    conn.execute(delete(seen_signatures).where(seen_signatures.c.expires_at <= now))
    row = conn.execute(select(func.count(), func.min(seen_signatures.c.expires_at))).one()
    return int(row[0]), row[1]


def signature_count(conn: Connection) -> int:
    """Signatures remembered, expired ones not yet swept included (what the guard's bound counts)."""
    return int(conn.execute(select(func.count()).select_from(seen_signatures)).scalar_one())


def take_token(conn: Connection, access_key: str, now: float, interval: float, tolerance: float) -> bool:
    """GCRA in one statement: True when a request of ``access_key`` at ``now`` may pass.

    The row holds the theoretical arrival time (TAT). A request passes when TAT - now <= tolerance and
    moves TAT to max(TAT, now) + interval; a refused request changes nothing. Every pass moves TAT by at
    least one interval, so over any time T at most T / interval + burst pass, whatever the number of
    processes and however their clocks differ (a clock ahead only lends its lead once)."""
    tat = rate_limits.c.tat
    statement = _insert(conn, rate_limits).values(access_key=access_key, tat=now + interval)  # type: ignore[attr-defined]
    statement = statement.on_conflict_do_update(
        index_elements=[rate_limits.c.access_key],
        set_={"tat": case((tat > now, tat), else_=literal(now)) + interval},
        where=tat - now <= tolerance,
    ).returning(rate_limits.c.access_key)
    return conn.execute(statement).first() is not None


def arrival_time(conn: Connection, access_key: str) -> float | None:
    """The key's theoretical arrival time, for the Retry-After of a refusal."""
    value = conn.execute(select(rate_limits.c.tat).where(rate_limits.c.access_key == access_key)).scalar()
    return None if value is None else float(value)


def sweep_rates(conn: Connection, before: float) -> int:
    """Forget buckets whose arrival time passed ``before``: such a row lets the next request through
    exactly as no row does, so forgetting it changes no answer; it only keeps names that were tried once
    (a sign-in with made-up keys) from piling up."""
    return int(conn.execute(delete(rate_limits).where(rate_limits.c.tat < before)).rowcount or 0)
