"""Over real HTTP: a signature binds its URL and its timestamp together. The signed string is
``METHOD + URL + timestamp + ...`` with no separators, so with zero-padded timestamps accepted a signature
for ``?limit=10`` at T was also valid for ``?limit=1`` at "0" + T: only the canonical spelling passes."""

from __future__ import annotations

import httpx
import pytest

from scp_images.signing import compute_signature
from tests.conformance.seed import Seeded
from tests.hostile.test_headers_and_bodies import now_ms, send, show
from tests.hostile.wire import VERSION, assert_refused, url


def _headers(seeded: Seeded, timestamp: str, signature: str) -> list[tuple[str, str]]:
    key = seeded.caller
    return [
        VERSION,
        ("Scp-Accesskey", key.access_key),
        ("Scp-Signature", signature),
        ("Scp-Timestamp", timestamp),
        ("Scp-ClientType", "Openapi"),
    ]


def test_a_digit_moved_from_the_query_into_the_timestamp_is_401(seeded: Seeded, http: httpx.Client) -> None:
    key = seeded.caller
    signed_for = url(seeded.stack.base_url, "/v1/images?limit=10")
    timestamp = str(now_ms())
    signature = compute_signature("GET", str(signed_for), timestamp, key.access_key, key.secret_key)
    assert send(http, "GET", signed_for, _headers(seeded, timestamp, signature)).status_code == 200

    shifted = url(seeded.stack.base_url, "/v1/images?limit=1")
    assert str(shifted) + "0" + timestamp == str(signed_for) + timestamp  # the same signed string
    assert_refused(send(http, "GET", shifted, _headers(seeded, "0" + timestamp, signature)), 401)


@pytest.mark.parametrize("spelling", ["0{}", "00{}", "+{}", "{}_0", "1_{}"])
def test_non_canonical_spellings_are_401_with_the_envelope(
    seeded: Seeded, http: httpx.Client, spelling: str
) -> None:
    key = seeded.caller
    target = show(seeded)
    timestamp = spelling.format(now_ms())
    signature = compute_signature("GET", str(target), timestamp, key.access_key, key.secret_key)
    response = send(http, "GET", target, _headers(seeded, timestamp, signature))
    assert_refused(response, 401)
    assert response.headers.get("x-request-id")  # answered by the application, in its envelope


def test_a_non_ascii_digit_timestamp_is_401(seeded: Seeded, http: httpx.Client) -> None:
    key = seeded.caller
    target = show(seeded)
    timestamp = "".join(chr(0x0660 + int(d)) for d in str(now_ms()))  # Arabic-Indic digits: int() reads them
    signature = compute_signature("GET", str(target), timestamp, key.access_key, key.secret_key)
    headers = [(n, v.encode()) for n, v in _headers(seeded, timestamp, signature)]
    assert_refused(send(http, "GET", target, headers), 401)
