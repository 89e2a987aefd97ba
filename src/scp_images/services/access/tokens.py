"""Keystone-style tokens for the OpenStack edge: issued for a key pair, verifiable by any process.

A token is ``scp1.<payload>.<mac>``: the payload names the access key, the issue and expiry times, the
methods and the key's revocation count; the MAC is HMAC-SHA256 under a key derived from the access key's
secret and the deployment's token secret (``SCP_IMAGES_TOKEN_SECRET``, or the one generated at the first
start: ``server_secrets.py``). So every process can check a token with nothing but the database it already
reads: no token table, no shared memory. A token dies with its key: once the key is disabled or deleted its
lookup fails (within the key cache's seconds), and a disable counts one more revocation, so the token stays
refused when the key is enabled again (Keystone keeps revoked tokens revoked). The token secret, never
empty, keeps a key holder from minting tokens offline (no request budget spent, no audit record).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from scp_images.domain.accounts import AccessKey
from scp_images.domain.errors import Unauthenticated
from scp_images.domain.principal import Principal
from scp_images.services.access.auth import Authenticator

PREFIX = "scp1"
_LABEL = b"scp-images keystone token v1"  # keeps token MACs apart from request signatures and links
_MAX_TOKEN_LEN = 512
_SKEW_SECONDS = 60
INVALID_TOKEN = "the token is not valid or has expired"


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    key: AccessKey
    issued_at: float
    expires_at: float
    methods: tuple[str, ...]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenService:
    def __init__(
        self,
        authenticator: Authenticator,
        *,
        ttl_seconds: float,
        server_secret: str,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not server_secret:
            # A MAC key its holder alone knows would let any key holder mint tokens offline.
            raise ValueError("a token service needs the deployment's token secret (never empty)")
        self._auth = authenticator
        self._ttl = ttl_seconds
        self._server_secret = server_secret.encode()
        self._now = now

    def issue(
        self, access_key: str, secret_key: str, methods: tuple[str, ...], request_id: str = ""
    ) -> Token:
        key = self._auth.sign_in(access_key, secret_key, request_id)
        issued = int(self._now())
        expires = issued + int(self._ttl)
        claims = {"k": key.access_key, "i": issued, "e": expires, "m": list(methods), "r": key.revocations}
        payload = _b64(orjson.dumps(claims))
        value = f"{PREFIX}.{payload}.{self._mac(key, payload)}"
        return Token(value, key, issued, expires, methods)

    def verify(self, value: str) -> Token:
        """The token's key and times, or Unauthenticated: malformed, forged, expired, or its key gone."""
        parts = value.split(".") if len(value) <= _MAX_TOKEN_LEN else []
        if len(parts) != 3 or parts[0] != PREFIX:
            raise Unauthenticated(reason=INVALID_TOKEN)
        try:
            claims = orjson.loads(_unb64(parts[1]))
            access_key, issued, expires = str(claims["k"]), int(claims["i"]), int(claims["e"])
            methods = tuple(str(m) for m in claims["m"])
            revocations = int(claims.get("r", 0))  # tokens of the previous release carry none
        except (ValueError, TypeError, KeyError, AttributeError, orjson.JSONDecodeError):
            raise Unauthenticated(reason=INVALID_TOKEN) from None
        key = self._auth.load_key(access_key)
        expected = self._mac(key, parts[1]) if key is not None else ""
        now = self._now()
        forged = not hmac.compare_digest(expected.encode(), parts[2].encode())
        # Issued in the future (beyond a minute of clock skew between processes), past its expiry, or
        # living longer than this server issues: refused like a forgery.
        in_time = issued <= now + _SKEW_SECONDS and now < expires and expires - issued <= self._ttl
        # Issued before the key's last disable: revoked for good, though the key is enabled again.
        revoked = key is not None and revocations != key.revocations
        if key is None or not key.enabled or forged or not in_time or revoked:
            raise Unauthenticated(reason=INVALID_TOKEN)
        return Token(value, key, issued, expires, methods)

    def principal(self, value: str) -> Principal:
        """The token's caller, with the role its key holds now (a token never carries one): the
        OpenStack edge is where the admin role has Glance's admin powers."""
        return self.verify(value).key.principal(admin_powers=True)

    def _mac(self, key: AccessKey, payload: str) -> str:
        derived = hmac.new(
            key.secret_key.encode(), _LABEL + b"\0" + self._server_secret, hashlib.sha256
        ).digest()
        return _b64(hmac.new(derived, payload.encode(), hashlib.sha256).digest())
