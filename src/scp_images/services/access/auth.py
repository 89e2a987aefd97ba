"""Authenticating a signed request and resolving its principal."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from scp_images.domain.accounts import AccessKey
from scp_images.domain.errors import (
    AccountMismatch,
    BadCredentials,
    ClockSkew,
    TimestampMalformed,
    Unauthenticated,
    Unavailable,
)
from scp_images.domain.principal import Principal
from scp_images.services.access.secrets import SecretCipher, SecretUnreadable
from scp_images.signing import (
    HEADER_ACCESS_KEY,
    HEADER_ACCOUNT_ID,
    HEADER_CLIENT_TYPE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    verify_signature,
)
from scp_images.store.sql import accounts as account_store
from scp_images.store.sql import guards
from scp_images.store.sql.database import Database

REQUIRED_HEADERS = (HEADER_ACCESS_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, HEADER_CLIENT_TYPE)
_MAX_SIGNATURE_LEN = 128
_MAX_ACCESS_KEY_LEN = 64  # the column's width: a longer one names no key
_NO_SECRET = secrets.token_urlsafe(30)
_MAX_OPENED_SECRETS = 10_000

log = logging.getLogger("scp_images.auth")


@dataclass(frozen=True, slots=True)
class SignedRequest:
    method: str
    candidate_urls: Sequence[str]
    headers: Mapping[str, str]  # canonical SCP header names -> values, as found case-insensitively
    request_id: str = ""  # for the log line of a refusal


class ReplayGuard:
    """Signatures accepted by any process, kept in the database (``seen_signatures``) for twice the
    window: a second use, by this process or any other, is refused. One statement per request; the
    primary key decides when two processes receive one signature at once.

    Expired rows are swept at most every ``sweep_seconds`` by each process. The sweep also counts what
    is left: at ``max_signatures`` or more, new requests are refused with 503 and a Retry-After until a
    later sweep finds room. Forgetting a signature early would let its replay through, and a guard that
    can be flooded into forgetting guards nothing. The count is taken at sweeps, so the bound is soft
    by the requests of one sweep interval."""

    def __init__(
        self,
        db: Database,
        window_seconds: float,
        max_signatures: int = 200_000,
        *,
        sweep_seconds: float = 10.0,
    ) -> None:
        if max_signatures < 1:
            raise ValueError("max_signatures must be at least 1")
        self._db = db
        self._window = window_seconds
        self._max = max_signatures
        self._sweep_every = sweep_seconds
        self._next_sweep = -math.inf
        self._full_until: float | None = None  # when the oldest remembered signature expires, if full
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        """``max_signatures``: at this many remembered signatures new requests are refused."""
        return self._max

    def remembered(self) -> int:
        """Signatures remembered now, by every process (for the fill gauge); -1 when the database cannot
        be read."""
        try:
            with self._db.read() as conn:
                return guards.signature_count(conn)
        except Exception:
            return -1

    def check_and_remember(self, signature: str, now: float) -> bool:
        """False for a replay; raises Unavailable when full (nothing is forgotten before its time)."""
        self._sweep_if_due(now)
        full_until = self._full_until
        if full_until is not None:
            log.warning("replay guard full (%d signatures); refusing new requests", self._max)
            retry_after = max(1, math.ceil(full_until - now))
            raise Unavailable(
                reason="too many requests to remember for replay protection", retry_after=retry_after
            )
        digest = hashlib.sha256(signature.encode()).hexdigest()
        with self._db.transaction() as conn:
            return guards.remember_signature(conn, digest, _utc(now), _utc(now + 2 * self._window))

    def _sweep_if_due(self, now: float) -> None:
        with self._lock:  # one sweep per process at a time; the others go on with the last verdict
            if now < self._next_sweep:
                return
            self._next_sweep = now + self._sweep_every
        with self._db.transaction() as conn:
            remaining, oldest = guards.sweep_signatures(conn, _utc(now))
        full = remaining >= self._max and oldest is not None
        self._full_until = oldest.replace(tzinfo=UTC).timestamp() if full and oldest else None


def _utc(epoch_seconds: float) -> datetime:
    """Naive UTC, as the DateTime columns hold it."""
    return datetime.fromtimestamp(epoch_seconds, UTC).replace(tzinfo=None)


class KeyCache:
    """Keys looked up in the last ``ttl`` seconds: saves a query per request. A disabled or deleted key
    therefore keeps working for at most ``ttl`` seconds in a process that saw it (0 turns caching off).

    Unknown keys are remembered too, for the same ``ttl``, so that a client (or an attacker) repeating
    one costs no query per request; a key created meanwhile works after at most ``ttl`` seconds. Known
    and unknown keys have separate bounds, so a flood of made-up keys cannot push out the real ones."""

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._found: dict[str, tuple[AccessKey, float]] = {}
        self._missing: dict[str, float] = {}
        self._lock = threading.Lock()

    def lookup(self, access_key: str) -> tuple[bool, AccessKey | None]:
        """(True, record) for a cached key, (True, None) for a cached miss, (False, None) otherwise."""
        now = time.monotonic()
        found = self._found.get(access_key)
        if found is not None and found[1] >= now:
            return True, found[0]
        missing = self._missing.get(access_key)
        if missing is not None and missing >= now:
            return True, None
        return False, None

    def put(self, access_key: str, key: AccessKey | None) -> None:
        if self._ttl <= 0:
            return
        expires = time.monotonic() + self._ttl
        with self._lock:
            if key is None:
                _bounded_put(self._missing, access_key, expires, self._max)
            else:
                self._missing.pop(access_key, None)
                _bounded_put(self._found, access_key, (key, expires), self._max)


def _bounded_put(entries: dict[str, Any], name: str, value: Any, limit: int) -> None:
    """Insert, dropping the oldest entries beyond ``limit`` (dicts keep insertion order)."""
    entries.pop(name, None)
    while len(entries) >= limit:
        del entries[next(iter(entries))]
    entries[name] = value


class Authenticator:
    def __init__(
        self,
        db: Database,
        *,
        window_seconds: float,
        now_ms: object = None,
        replay_guard: ReplayGuard | None = None,
        key_cache_seconds: float = 0.0,
        secrets: SecretCipher | None = None,
    ) -> None:
        self._db = db
        self._keys = KeyCache(key_cache_seconds)
        self._window_ms = window_seconds * 1000
        self._now_ms = now_ms or (lambda: time.time() * 1000)
        self._replay = replay_guard
        self._secrets = secrets or SecretCipher(())
        # Secrets in the clear by their stored (encrypted) text: a Fernet decryption costs more than the
        # rest of a signed request's check. The row is still read when the key cache says so, and a
        # rotated or re-encrypted secret is another stored text, so this never answers for a changed key.
        self._opened: dict[str, str] = {}
        self._opened_lock = threading.Lock()

    def authenticate(self, request: SignedRequest) -> Principal:
        headers = request.headers
        missing = [h for h in REQUIRED_HEADERS if not headers.get(h)]
        if missing:
            raise Unauthenticated(reason=f"missing header {', '.join(missing)}")
        self._check_timestamp(headers[HEADER_TIMESTAMP])
        access_key = headers[HEADER_ACCESS_KEY]
        key = self._load_key(access_key)
        account_id = headers.get(HEADER_ACCOUNT_ID) or ""
        signature = headers[HEADER_SIGNATURE]
        # The signature is checked even for an unknown key (against a throw-away secret), so the three
        # refusals below cost the same time and say the same thing: nothing tells which one it was.
        signed = len(signature) <= _MAX_SIGNATURE_LEN and verify_signature(
            method=request.method,
            candidate_urls=request.candidate_urls,
            headers=headers,
            secret_key=key.secret_key if key is not None else _NO_SECRET,
            account_id=account_id,
        )
        if key is None:
            raise _refused("unknown_key", access_key, request)
        if not key.enabled:
            raise _refused("disabled_key", access_key, request)
        if not signed:
            raise _refused("bad_signature", access_key, request)
        if self._replay is not None and not self._replay.check_and_remember(signature, self._now_ms() / 1000):  # type: ignore[operator]
            raise Unauthenticated(reason="this signature was already used")
        if account_id and account_id != key.account_id:
            raise AccountMismatch(account_id=account_id[:64])
        return key.principal()

    def load_key(self, access_key: str) -> AccessKey | None:
        """The key (secret in the clear) through the same cache as signed requests; None if unknown."""
        return self._load_key(access_key)

    def sign_in(self, access_key: str, secret_key: str, request_id: str = "") -> AccessKey:
        """A key pair given in the clear (the Keystone token endpoint): the same single refusal for an
        unknown key, a disabled one and a wrong secret, compared in constant time."""
        key = self._load_key(access_key)
        expected = key.secret_key if key is not None else _NO_SECRET
        matches = hmac.compare_digest(expected.encode(), secret_key.encode())
        why = "unknown_key" if key is None else "disabled_key" if not key.enabled else "bad_secret"
        if key is None or not key.enabled or not matches:
            log.info(
                "sign-in refused: %s",
                why,
                extra={
                    "auth_failure": why,
                    "access_key": access_key[:_MAX_ACCESS_KEY_LEN],
                    "request_id": request_id,
                },
            )
            raise Unauthenticated(reason="the credential is not valid")
        return key

    def _check_timestamp(self, value: str) -> None:
        millis = canonical_millis(value)
        if millis is None:
            raise TimestampMalformed()
        skew = abs(self._now_ms() - millis)  # type: ignore[operator]
        if skew > self._window_ms:
            raise ClockSkew(window=round(self._window_ms / 1000))

    def _load_key(self, access_key: str) -> AccessKey | None:
        """The key with its secret in the clear, or None; misses are cached like hits."""
        cached, key = self._keys.lookup(access_key)
        if not cached:
            key = None
            if may_name_a_key(access_key):
                with self._db.read() as conn:
                    key = account_store.get_key(conn, access_key)
            # Exactly this key: a database collation must not make another spelling match.
            key = self._readable(key) if key is not None and key.access_key == access_key else None
            self._keys.put(access_key, key)
        return key

    def _readable(self, key: AccessKey) -> AccessKey | None:
        opened = self._opened.get(key.secret_key)
        if opened is not None:
            return replace(key, secret_key=opened)
        try:
            opened = self._secrets.open(key.secret_key)
        except SecretUnreadable:
            # Start-up checks every stored secret, so this is a row written later by a process with
            # other keys: that key cannot authenticate here, and the operator must hear about it.
            log.error(
                "the secret of access key %s cannot be decrypted with the configured keys", key.access_key
            )
            return None
        with self._opened_lock:
            _bounded_put(self._opened, key.secret_key, opened, _MAX_OPENED_SECRETS)
        return replace(key, secret_key=opened)


_MAX_TIMESTAMP_DIGITS = 16  # far beyond any clock, far below int()'s 4,300-digit refusal


def canonical_millis(value: str) -> int | None:
    """``Scp-Timestamp`` as epoch milliseconds, or None unless written the one canonical way: ASCII digits,
    no sign, space, underscore or leading zero (a lone "0" is fine). The signed string has no separators,
    so a second spelling of the number would let a digit move from the URL into the timestamp: a signature
    for ``?limit=10`` at T would also sign ``?limit=1`` at "0" + T."""
    if not (0 < len(value) <= _MAX_TIMESTAMP_DIGITS and value.isascii() and value.isdigit()):
        return None
    if value[0] == "0" and value != "0":
        return None
    return int(value)


def may_name_a_key(access_key: str) -> bool:
    """Keys are printable ASCII up to the column's width; any other name is refused without a query
    (PostgreSQL would refuse a NUL or a longer value as an error, not as "no such key")."""
    return len(access_key) <= _MAX_ACCESS_KEY_LEN and access_key.isascii() and access_key.isprintable()


def _refused(why: str, access_key: str, request: SignedRequest) -> Unauthenticated:
    """One answer for every bad credential; the log says which it was."""
    log.info(
        "authentication refused: %s",
        why,
        extra={
            "auth_failure": why,
            "access_key": access_key[:_MAX_ACCESS_KEY_LEN],
            "request_id": request.request_id,
        },
    )
    return BadCredentials()
