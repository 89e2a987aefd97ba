"""The checks every signed call passes, in the order SCP clients rely on:
authentication (401), then the API version (400), then the action's permission (403)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime

from starlette.requests import Request
from starlette.types import Scope

from scp_images.domain.errors import DomainError, InvalidRequest, Unauthenticated
from scp_images.domain.principal import Action, Principal
from scp_images.domain.versions import VersionInfo, VersionStatus, VersionTable
from scp_images.http.state import SIGNED_HEADERS, note_caller, request_headers
from scp_images.services.access.auth import Authenticator, SignedRequest
from scp_images.services.access.ratelimit import RateLimiter
from scp_images.signing import signature_candidates

# Each header's ASGI (lower-case) name, computed once.
_SIGNED = tuple((name, name.lower().encode()) for name in SIGNED_HEADERS)
_API_VERSION = b"scp-api-version"
_MAX_HEADER_LEN = 256
# SCP calls a version DEPRECATED when fewer than 90 days remain before its not-before date.
_DEPRECATION_NOTICE = timedelta(days=90)
_NEGOTIATED_KEPT = 64  # spellings of a version header whose answer is kept (a bound, not a cache size)


@dataclass(frozen=True, slots=True)
class Call:
    principal: Principal
    version: VersionInfo
    language: str
    request_id: str
    headers: dict[str, str] = field(default_factory=dict)


def version_headers(info: VersionInfo) -> dict[str, str]:
    """RFC 9745 ``Deprecation`` and RFC 8594 ``Sunset`` for a deprecated version."""
    if info.status is not VersionStatus.DEPRECATED or info.not_before is None:
        return {}
    sunset = datetime.combine(info.not_before, time(0, 0), tzinfo=UTC)
    deprecated_at = sunset - _DEPRECATION_NOTICE
    return {
        "Deprecation": f"@{int(deprecated_at.timestamp())}",
        "Sunset": format_datetime(sunset, usegmt=True),
    }


class Guard:
    def __init__(
        self,
        authenticator: Authenticator,
        versions: VersionTable,
        *,
        public_urls: Sequence[str],
        strict_sunset: bool,
        today: Callable[[], date],
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self._rate_limiter = rate_limiter
        self._authenticator = authenticator
        self._versions = versions
        self._public_urls = [u.rstrip("/") for u in public_urls]
        self._strict_sunset = strict_sunset
        self._today = today
        self._version_headers = {e.version: version_headers(e) for e in versions.entries}
        self._version_labels = {e.version: str(e.version) for e in versions.entries}
        self._negotiated: dict[str | None, VersionInfo] = {}

    def take_rate(self, access_key: str) -> None:
        """The per-key request budget (429 beyond), for every edge that authenticated a key."""
        if self._rate_limiter is not None:
            self._rate_limiter.take(access_key)

    def authorize(self, request: Request, action: Action) -> Call:
        scope = request.scope
        found = request_headers(scope)
        principal = self._authenticator.authenticate(self._signed_request(scope, found))
        self.take_rate(principal.access_key)
        version = self._negotiate(_single_header(found, "scp-api-version", _API_VERSION, InvalidRequest))
        state = scope["state"]
        note_caller(state, principal, self._version_labels[version.version])
        principal.require(action)
        return Call(
            principal, version, state["language"], state["request_id"], self._version_headers[version.version]
        )

    def _negotiate(self, header: str | None) -> VersionInfo:
        """``VersionTable.negotiate``, its answers kept by header value: clients send the same few. Only
        without strict sunsets, where the answer does not depend on the day; refusals are not kept."""
        version = self._negotiated.get(header)
        if version is None:
            version = self._versions.negotiate(header, self._today(), strict_sunset=self._strict_sunset)
            if not self._strict_sunset and len(self._negotiated) < _NEGOTIATED_KEPT:
                self._negotiated[header] = version
        return version

    def _signed_request(self, scope: Scope, found: dict[bytes, list[str]]) -> SignedRequest:
        headers = {}
        for name, key in _SIGNED:
            value = _single_header(found, name, key)
            if value is not None:
                headers[name] = value
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        query = scope["query_string"].decode("latin-1")
        candidates = signature_candidates(self._bases(found), path, query)
        return SignedRequest(scope["method"], candidates, headers, scope["state"].get("request_id", ""))

    def _bases(self, found: dict[bytes, list[str]]) -> list[str]:
        hosts = found.get(b"host")
        host = hosts[0] if hosts else None  # the first, as Starlette's Headers.get answers
        if not host:
            return self._public_urls
        return [*self._public_urls, f"http://{host}", f"https://{host}"]


def _single_header(
    found: dict[bytes, list[str]], name: str, key: bytes, error: type[DomainError] = Unauthenticated
) -> str | None:
    values = found.get(key)
    if not values:
        return None
    if len(values) > 1:
        raise error(reason=f"header {name} is given more than once")
    if len(values[0]) > _MAX_HEADER_LEN:
        raise error(reason=f"header {name} is too long")
    return values[0]
