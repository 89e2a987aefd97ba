"""Authenticating a signed request and resolving its principal."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scp_images.domain.errors import AccountMismatch, Unauthenticated
from scp_images.domain.principal import Principal
from scp_images.signing import (
    HEADER_ACCESS_KEY,
    HEADER_ACCOUNT_ID,
    HEADER_CLIENT_TYPE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    verify_signature,
)
from scp_images.store.sql import accounts as account_store
from scp_images.store.sql.accounts import KeyRecord
from scp_images.store.sql.database import Database

REQUIRED_HEADERS = (HEADER_ACCESS_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, HEADER_CLIENT_TYPE)
_MAX_SIGNATURE_LEN = 128


@dataclass(frozen=True, slots=True)
class SignedRequest:
    method: str
    candidate_urls: Sequence[str]
    headers: Mapping[str, str]  # canonical SCP header names -> values, as found case-insensitively


class ReplayGuard:
    """Remembers signatures for the time window; a second use is refused. Process-local by design:
    the window is short and a shared store would put a write on every request."""

    def __init__(self, window_seconds: float) -> None:
        self._window = window_seconds
        self._seen: dict[str, float] = {}
        self._next_purge = 0.0
        # Requests run on many threads: two copies of one request sent at once must not both pass.
        self._lock = threading.Lock()

    def check_and_remember(self, signature: str, now: float) -> bool:
        with self._lock:
            if now >= self._next_purge:
                self._seen = {s: t for s, t in self._seen.items() if t > now}
                self._next_purge = now + 1.0
            if signature in self._seen:
                return False
            self._seen[signature] = now + 2 * self._window
            return True


class KeyCache:
    """Keys looked up in the last ``ttl`` seconds: saves a query per request. A disabled or deleted key
    therefore keeps working for at most ``ttl`` seconds in a process that saw it (0 turns caching off)."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._entries: dict[str, tuple[KeyRecord, float]] = {}

    def get(self, access_key: str) -> KeyRecord | None:
        entry = self._entries.get(access_key)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key: KeyRecord) -> None:
        if self._ttl > 0:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key.access_key] = (key, time.monotonic() + self._ttl)


class Authenticator:
    def __init__(
        self,
        db: Database,
        *,
        window_seconds: float,
        now_ms: object = None,
        replay_guard: ReplayGuard | None = None,
        key_cache_seconds: float = 0.0,
    ) -> None:
        self._db = db
        self._keys = KeyCache(key_cache_seconds)
        self._window_ms = window_seconds * 1000
        self._now_ms = now_ms or (lambda: time.time() * 1000)
        self._replay = replay_guard

    def authenticate(self, request: SignedRequest) -> Principal:
        headers = request.headers
        missing = [h for h in REQUIRED_HEADERS if not headers.get(h)]
        if missing:
            raise Unauthenticated(reason=f"missing header {', '.join(missing)}")
        self._check_timestamp(headers[HEADER_TIMESTAMP])
        key = self._load_key(headers[HEADER_ACCESS_KEY])
        account_id = headers.get(HEADER_ACCOUNT_ID) or ""
        signature = headers[HEADER_SIGNATURE]
        if len(signature) > _MAX_SIGNATURE_LEN or not verify_signature(
            method=request.method,
            candidate_urls=request.candidate_urls,
            headers=headers,
            secret_key=key.secret_key,
            account_id=account_id,
        ):
            raise Unauthenticated(reason="the signature does not match")
        if self._replay is not None and not self._replay.check_and_remember(signature, self._now_ms() / 1000):  # type: ignore[operator]
            raise Unauthenticated(reason="this signature was already used")
        if account_id and account_id != key.account_id:
            raise AccountMismatch(account_id=account_id[:64])
        return key.principal()

    def _check_timestamp(self, value: str) -> None:
        if not (value.isascii() and value.isdigit() and len(value) <= 16):
            raise Unauthenticated(reason="Scp-Timestamp is not epoch milliseconds")
        skew = abs(self._now_ms() - int(value))  # type: ignore[operator]
        if skew > self._window_ms:
            raise Unauthenticated(reason="Scp-Timestamp is outside the allowed time window")

    def _load_key(self, access_key: str) -> KeyRecord:
        key = self._keys.get(access_key)
        if key is None:
            with self._db.read() as conn:
                key = account_store.get_key(conn, access_key[:64])
            if key is not None:
                self._keys.put(key)
        if key is None or key.access_key != access_key:
            raise Unauthenticated(reason="unknown access key")
        if not key.enabled:
            raise Unauthenticated(reason="the access key is disabled")
        return key
