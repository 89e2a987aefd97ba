"""Raw HTTP for hostile tests: exact header names and values, signing, and what a refusal must look like."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from scp_images.signing import sign_request
from tests.support.stack import Key

Headers = list[tuple[str, str]]

SIGNING_HEADERS = ("Scp-Accesskey", "Scp-Signature", "Scp-Timestamp", "Scp-ClientType")
VERSION = ("Scp-Api-Version", "virtualserver 1.3")


def client() -> httpx.Client:
    """No keep-alive: a refused request may leave its connection unusable, and the next must not care."""
    return httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0), trust_env=False)


def url(base: str, path: str, params: Any = None) -> httpx.URL:
    return httpx.URL(base + path, params=params) if params is not None else httpx.URL(base + path)


def signed_headers(method: str, target: httpx.URL, key: Key, *, timestamp_ms: int | None = None) -> Headers:
    """The SCP headers for the URL exactly as it goes on the wire, in the canonical casing."""
    signed = sign_request(method, str(target), key.access_key, key.secret_key, timestamp_ms=timestamp_ms)
    return [VERSION, *signed.as_dict().items()]


def replace(headers: Iterable[tuple[str, str]], name: str, value: str) -> Headers:
    return [(n, value if n.lower() == name.lower() else v) for n, v in headers]


def without(headers: Iterable[tuple[str, str]], name: str) -> Headers:
    return [(n, v) for n, v in headers if n.lower() != name.lower()]


def assert_refused(response: httpx.Response, *statuses: int) -> None:
    """A 4xx (one of ``statuses`` when given) that is the SCP error envelope, or a plain 4xx from the HTTP
    server itself when it refused the request before the application (no ``X-Request-Id`` then)."""
    said = (
        f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text[:300]}"
    )
    assert 400 <= response.status_code < 500, said
    if statuses:
        assert response.status_code in statuses, said
    request_id = response.headers.get_list("x-request-id")
    if not request_id:
        return  # refused by the HTTP server (h11/httptools) before the application saw it
    assert len(request_id) == 1, request_id
    assert_envelope(response, request_id[0])


def assert_envelope(response: httpx.Response, request_id: str) -> None:
    body = response.json()
    assert set(body) == {"errors"}, body
    (item,) = body["errors"]
    assert set(item) == {"status", "code", "title", "detail", "request_id"}, item
    assert item["status"] == response.status_code, item
    assert all(isinstance(item[k], str) and item[k] for k in ("code", "title", "detail")), item
    assert item["request_id"] == request_id, (item, request_id)


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body without Content-Length (chunked transfer encoding)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]
