"""The request state the pipeline and the edges share: the headers gathered in the pipeline's one pass
over the header list, and what authentication learned about the caller (set in one place for both
edges: the metrics, the access log and the audit record of a refusal read it)."""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

from scp_images.domain.principal import Principal
from scp_images.signing import (
    HEADER_ACCESS_KEY,
    HEADER_ACCOUNT_ID,
    HEADER_CLIENT_TYPE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
)

SIGNED_HEADERS = (
    HEADER_ACCESS_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    HEADER_CLIENT_TYPE,
    HEADER_ACCOUNT_ID,
)

HEADERS_KEY = "headers"
# Every header some part of a request's path reads; the rest are not looked at.
WANTED_HEADERS = frozenset(
    name.lower().encode()
    for name in (
        *SIGNED_HEADERS,
        "scp-api-version",
        "host",
        "accept-language",
        "x-auth-token",
    )
)


def scan_headers(raw: list[tuple[bytes, bytes]]) -> dict[bytes, list[str]]:
    """The wanted headers, every value of each in order, from one pass over the (ASGI: lower-case)
    header list."""
    found: dict[bytes, list[str]] = {}
    for key, value in raw:
        if key in WANTED_HEADERS:
            values = found.get(key)
            if values is None:
                found[key] = [value.decode("latin-1")]
            else:
                values.append(value.decode("latin-1"))
    return found


def request_headers(scope: Scope) -> dict[bytes, list[str]]:
    """What the pipeline gathered; scanned here for a scope that did not pass it."""
    state = scope.setdefault("state", {})
    found = state.get(HEADERS_KEY)
    if found is None:
        found = state[HEADERS_KEY] = scan_headers(scope["headers"])
    return found  # type: ignore[no-any-return]


def note_caller(state: dict[str, Any], principal: Principal, api_version: str | None = None) -> None:
    """The authenticated caller: the key (never a token's text) and its account, and the SCP API version
    when the edge has one."""
    if api_version is not None:
        state["api_version"] = api_version
    state["access_key"] = principal.access_key
    state["account_id"] = principal.account_id
    state["role"] = principal.acting_role.value
