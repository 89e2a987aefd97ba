"""Authentication under pressure: unknown keys are cached briefly (no query per request), a key made
after a miss works within the cache time, and the replay guard's memory is bounded (full: 503, never a
forgotten signature)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from scp_images.config import Settings
from scp_images.domain.accounts import AccessKey
from scp_images.domain.errors import RateLimited, Unavailable
from scp_images.services.access.auth import KeyCache, ReplayGuard
from scp_images.services.access.ratelimit import RateLimiter
from scp_images.store.sql import accounts as account_store
from scp_images.store.sql.database import Database, create_db_engine, migrate
from scp_images.store.sql.tables import rate_limits, seen_signatures
from tests.support.stack import Key, Stack, start_stack
from tests.support.tools import wait_until


@pytest.fixture
def key_queries(stack: Stack) -> Iterator[list[str]]:
    """The SELECTs that read access keys, as the server runs them."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "access_keys" in statement:
            seen.append(statement)

    engine = stack.components.db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_repeated_unknown_key_costs_one_query(stack: Stack, key_queries: list[str]) -> None:
    owner = stack.new_account("owner")
    ghost = Key("NOSUCHKEY1234567890X", "secret", owner.account_id, "x")
    statuses = {stack.request("GET", "/v1/images", ghost).status_code for _ in range(25)}
    assert statuses == {401}
    assert len(key_queries) == 1, key_queries
    others = {
        stack.request("GET", "/v1/images", Key(f"GHOST{i:015d}", "s", "", "")).status_code for i in range(5)
    }
    assert others == {401} and len(key_queries) == 6


def test_a_key_created_after_a_miss_works_within_the_cache_time(stack: Stack) -> None:
    owner = stack.new_account("owner")
    chosen = Key("CHOSENKEY0123456789X", "chosen-secret", owner.account_id, "u@example.com")
    assert stack.request("GET", "/v1/images", chosen).status_code == 401  # the miss is cached now
    record = AccessKey(
        access_key=chosen.access_key,
        secret_key=chosen.secret_key,
        account_id=owner.account_id,
        account_name="owner",
        user_name=chosen.user_name,
        enabled=True,
        denied_actions=frozenset(),
        created_at=datetime.now(UTC).replace(tzinfo=None),
    )
    with stack.components.db.transaction() as conn:
        account_store.insert_key(conn, record)
    # the cached miss is older than the key, so it expires before now + ttl; the margin is for request
    # latency on a busy machine
    wait_until(
        lambda: stack.request("GET", "/v1/images", chosen).status_code == 200,
        what="the new key working within the cache time",
        timeout=stack.settings.key_cache_seconds + 3.0,
    )


def test_unknown_keys_do_not_push_out_known_ones() -> None:
    cache = KeyCache(60, max_entries=10)
    record = AccessKey("REAL", "s", "a" * 32, "a", "u", True, frozenset(), datetime.now(UTC))
    cache.put("REAL", record)
    for i in range(1000):
        cache.put(f"GHOST{i}", None)
    assert cache.lookup("REAL") == (True, record)
    assert cache.lookup("GHOST999") == (True, None)
    assert cache.lookup("GHOST0") == (False, None)  # evicted: the misses are bounded
    assert len(cache._missing) == 10


def test_zero_cache_time_caches_nothing() -> None:
    cache = KeyCache(0)
    cache.put("GHOST", None)
    assert cache.lookup("GHOST") == (False, None)


# --- replay guard ------------------------------------------------------------------------------------


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    engine = create_db_engine(database_url)
    migrate(engine)
    yield Database(engine)
    engine.dispose()


NOW = 1_800_000_000.0  # whole seconds: the arithmetic below is exact in every database


def test_a_full_replay_guard_refuses_and_never_forgets_early(db: Database) -> None:
    guard = ReplayGuard(db, window_seconds=10, max_signatures=3, sweep_seconds=0)
    assert all(guard.check_and_remember(f"sig{i}", NOW + i) for i in range(3))
    with pytest.raises(Unavailable) as refused:
        guard.check_and_remember("sig-new", NOW + 3)
    # sig0 expires at NOW + 20: the retry hint points there
    assert refused.value.params["retry_after"] == 17
    for i in range(3):  # a full guard lets no replay through either
        with pytest.raises(Unavailable):
            guard.check_and_remember(f"sig{i}", NOW + 5)
    # once the oldest expires there is room again, and only for as many as expired
    assert guard.check_and_remember("sig-new", NOW + 20) is True
    with pytest.raises(Unavailable):
        guard.check_and_remember("sig-newer", NOW + 20.5)
    roomy = ReplayGuard(db, window_seconds=10, max_signatures=100, sweep_seconds=0)
    assert roomy.check_and_remember("sig2", NOW + 20.5) is False  # still remembered


def test_expired_signatures_are_forgotten(db: Database) -> None:
    never_sweeps = ReplayGuard(db, window_seconds=1, max_signatures=100, sweep_seconds=3600)
    assert never_sweeps.check_and_remember("s0", NOW)
    assert never_sweeps.check_and_remember("s0", NOW + 1.5) is False  # inside twice the window
    assert never_sweeps.check_and_remember("s0", NOW + 100)  # long expired, though not swept yet
    sweeps = ReplayGuard(db, window_seconds=1, max_signatures=100, sweep_seconds=0)
    for i in range(1, 50):
        assert sweeps.check_and_remember(f"s{i}", NOW + 100 + i)
    with db.read() as conn:
        remaining = conn.execute(select(func.count()).select_from(seen_signatures)).scalar()
    assert remaining is not None and remaining <= 3  # each lives two windows


def test_a_signature_accepted_by_one_guard_is_refused_by_another(db: Database) -> None:
    """Two processes' guards on one database: the row, not a process's memory, decides."""
    first, second = (ReplayGuard(db, window_seconds=300) for _ in range(2))
    assert first.check_and_remember("shared", NOW)
    assert second.check_and_remember("shared", NOW + 1) is False
    assert first.check_and_remember("shared", NOW + 2) is False


@pytest.fixture
def guarded(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        replay_protection=True,
        replay_max_signatures=3,
        replay_sweep_seconds=0,
    )
    running = start_stack(settings)
    yield running
    running.stop()


def test_a_full_replay_guard_answers_503_with_retry_after_over_http(guarded: Stack) -> None:
    key = guarded.new_account("busy")
    # distinct URLs, so no two signatures can be equal even within one millisecond
    statuses = [guarded.request("GET", "/v1/images", key, params={"limit": n}).status_code for n in (1, 2, 3)]
    assert statuses == [200, 200, 200]
    refused = guarded.request("GET", "/v1/images", key, params={"limit": 4})
    assert refused.status_code == 503, refused.text
    assert refused.json()["errors"][0]["code"] == "virtualserver.Unavailable"
    window = guarded.settings.signature_window_seconds
    assert 1 <= int(refused.headers["Retry-After"]) <= 2 * window


# --- rate limit ----------------------------------------------------------------------------------------


def test_the_rate_limit_is_one_bucket_for_every_limiter_on_the_database(db: Database) -> None:
    """GCRA, rate 2/s with a burst of 2: two limiters (two processes) spend one key's bucket together."""
    clock = [NOW]
    first, second = (RateLimiter(db, 2.0, clock=lambda: clock[0]) for _ in range(2))
    first.take("K")
    second.take("K")
    for limiter in (first, second):
        with pytest.raises(RateLimited) as limited:
            limiter.take("K")
        assert limited.value.params["retry_after"] == 1
    second.take("OTHER")  # another key has its own bucket
    clock[0] += 0.5  # one interval: one more request
    first.take("K")
    with pytest.raises(RateLimited):
        second.take("K")
    clock[0] += 10  # idle for long: the burst again, no more
    first.take("K")
    second.take("K")
    with pytest.raises(RateLimited):
        first.take("K")


def test_idle_buckets_are_swept_without_changing_any_answer(db: Database) -> None:
    """Names tried once (a sign-in's made-up keys) do not pile up: a bucket idle past its arrival time
    plus the sweep interval goes, and a key with budget still spent keeps its row and its refusal."""
    clock = [NOW]
    limiter = RateLimiter(db, 0.01, clock=lambda: clock[0], sweep_seconds=60)  # one call per 100 s
    for name in ("ONCE-1", "ONCE-2", "BUSY"):
        limiter.take(name)

    def names() -> set[str]:
        with db.read() as conn:
            return set(conn.execute(select(rate_limits.c.access_key)).scalars())

    clock[0] += 200  # every bucket is idle past arrival + 60 s; BUSY spends again right after the sweep
    limiter.take("BUSY")
    assert names() == {"BUSY"}
    with pytest.raises(RateLimited):
        limiter.take("BUSY")
    clock[0] += 61  # the next sweep keeps BUSY: its arrival time is still ahead
    with pytest.raises(RateLimited):
        limiter.take("BUSY")
    assert names() == {"BUSY"}
    limiter.take("ONCE-1")  # a swept name starts with the full budget, as a new one does
