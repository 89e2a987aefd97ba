"""SCP request signing: the single definition used by the SDK, the CLI, the tests and the server.

SCP clients sign ``METHOD + full URL + timestamp + access key + account id + client type`` with
HMAC-SHA256 keyed by the secret key and send the standard Base64 digest. Bodies and other headers
are not signed. Clients disagree about the URL they sign (Go signs the wire query, ``scpv2`` the
unencoded one), so the verifier accepts either form of the query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

__all__ = [
    "CLIENT_TYPE",
    "SignedHeaders",
    "compute_signature",
    "sign_request",
    "signature_candidates",
    "verify_signature",
]

CLIENT_TYPE = "Openapi"

HEADER_ACCESS_KEY = "Scp-Accesskey"
HEADER_SIGNATURE = "Scp-Signature"
HEADER_TIMESTAMP = "Scp-Timestamp"
HEADER_CLIENT_TYPE = "Scp-ClientType"
HEADER_ACCOUNT_ID = "Scp-AccountId"


def _message(
    method: str, url: str, timestamp: str, access_key: str, account_id: str, client_type: str
) -> bytes:
    return f"{method.upper()}{url}{timestamp}{access_key}{account_id}{client_type}".encode()


def compute_signature(
    method: str,
    url: str,
    timestamp: str,
    access_key: str,
    secret_key: str,
    account_id: str = "",
    client_type: str = CLIENT_TYPE,
) -> str:
    """Base64(HMAC-SHA256(secret, METHOD + URL + timestamp + access key + account id + client type))."""
    digest = hmac.new(
        secret_key.encode(),
        _message(method, url, timestamp, access_key, account_id, client_type),
        hashlib.sha256,
    ).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    """The headers an SCP client adds to a request."""

    access_key: str
    signature: str
    timestamp: str
    client_type: str = CLIENT_TYPE
    account_id: str | None = None

    def as_dict(self) -> dict[str, str]:
        headers = {
            HEADER_ACCESS_KEY: self.access_key,
            HEADER_SIGNATURE: self.signature,
            HEADER_TIMESTAMP: self.timestamp,
            HEADER_CLIENT_TYPE: self.client_type,
        }
        if self.account_id is not None:
            headers[HEADER_ACCOUNT_ID] = self.account_id
        return headers


def sign_request(
    method: str,
    url: str,
    access_key: str,
    secret_key: str,
    account_id: str | None = None,
    timestamp_ms: int | None = None,
) -> SignedHeaders:
    """Sign ``url`` (scheme, host, path and, when present, ``?query``) the way SCP clients do."""
    millis = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    if millis < 0:
        raise ValueError(f"timestamp_ms must be epoch milliseconds, not {millis}")
    ts = str(millis)  # canonical: the server accepts no other spelling (no sign, no leading zero)
    sig = compute_signature(method, url, ts, access_key, secret_key, account_id or "")
    return SignedHeaders(access_key=access_key, signature=sig, timestamp=ts, account_id=account_id)


def signature_candidates(bases: Iterable[str], raw_path: str, raw_query: str) -> list[str]:
    """Every URL a legitimate client may have signed for this request, in the order to try them.

    The path is used exactly as received. The query is tried as received (Go, Postman) and
    decoded with ``unquote_plus`` as a whole (``scpv2``, which signs the unencoded query).
    """
    queries = [raw_query]
    if raw_query:
        decoded = unquote_plus(raw_query)
        if decoded != raw_query:
            queries.append(decoded)
    urls: list[str] = []
    for base in bases:
        stem = base.rstrip("/") + raw_path
        for q in queries:
            url = f"{stem}?{q}" if q else stem
            if url not in urls:
                urls.append(url)
    return urls


def verify_signature(
    *,
    method: str,
    candidate_urls: Iterable[str],
    headers: Mapping[str, str],
    secret_key: str,
    account_id: str,
) -> bool:
    """True when ``Scp-Signature`` matches one of ``candidate_urls``; each comparison in constant time.

    The loop stops at the first match: the candidates are derived from the request itself (public), so
    how many were tried tells nothing about the secret, and a refusal still tries them all."""
    expected = headers[HEADER_SIGNATURE].encode()
    ts = headers[HEADER_TIMESTAMP]
    ak = headers[HEADER_ACCESS_KEY]
    ct = headers[HEADER_CLIENT_TYPE]
    for url in candidate_urls:
        sig = compute_signature(method, url, ts, ak, secret_key, account_id, ct).encode()
        if hmac.compare_digest(sig, expected):
            return True
    return False
