"""Numbers of any length and shape, wherever the server reads one: list query parameters, JSON bodies
(min_disk, min_ram), the Range header, Scp-Timestamp and Accept-Language weights. Never a 5xx: Python's
int() refuses strings of more than 4,300 digits with a ValueError, which once made
``GET /v1/images?limit=<5,000 digits>`` a 500."""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from scp_images.signing import compute_signature
from tests.conformance.seed import Seeded
from tests.hostile.test_headers_and_bodies import FEW, PROPERTY, VALID_CREATE, now_ms, send, show
from tests.hostile.wire import VERSION, assert_refused, signed_headers, url

HUGE = "9" * 5000

# Integers as text: small, 64-bit edges, and far beyond int()'s 4,300-digit limit (with signs and zeros).
digit_runs = st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n)
integer_text = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["0", "1", "1000", "1001", str(2**63 - 1), str(2**63), str(2**64), str(-(2**63))]),
    digit_runs,
    digit_runs.map(lambda d: "-" + d),
    digit_runs.map(lambda d: "0" * 4400 + d[:3]),
)
number_text = st.one_of(
    integer_text,
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.tuples(integer_text, st.sampled_from(["e", "E", "e+", "e-"]), st.integers(0, 5000)).map(
        lambda t: f"{t[0][:30]}{t[1]}{t[2]}"
    ),
    st.sampled_from(["1.0", "-0", "+1", "0x10", "1_000", "Infinity", "NaN", "1e400", "-1e400", ""]),
)


# --- query parameters --------------------------------------------------------------------------------


@PROPERTY
@example(path="/v1/images", name="limit", value=HUGE)
@example(path="/v1/images", name="limit", value="0" * 5000 + "5")
@example(path="/v1/images", name="limit", value="-" + HUGE)
@given(
    path=st.sampled_from(["/v1/images", "/v1/pending-images"]),
    name=st.sampled_from(["limit", "marker", "min_disk", "min_ram", "os_hidden", "name", "sort", "size"]),
    value=number_text,
)
def test_numbers_in_list_queries_are_200_or_400(
    seeded: Seeded, http: httpx.Client, path: str, name: str, value: str
) -> None:
    target = url(seeded.stack.base_url, path, {name: value})
    response = send(http, "GET", target, signed_headers("GET", target, seeded.caller))
    if response.status_code == 200:
        assert isinstance(response.json()["images"], list)
    else:
        assert_refused(response, 400)


def test_limit_of_5000_digits_is_400_not_500(seeded: Seeded, http: httpx.Client) -> None:
    target = url(seeded.stack.base_url, "/v1/images", {"limit": HUGE})
    response = send(http, "GET", target, signed_headers("GET", target, seeded.caller))
    assert_refused(response, 400)
    assert "limit" in response.json()["errors"][0]["detail"]
    padded = url(seeded.stack.base_url, "/v1/images", {"limit": "0" * 5000 + "2"})
    response = send(http, "GET", padded, signed_headers("GET", padded, seeded.caller))
    assert response.status_code == 200 and len(response.json()["images"]) == 2, response.text


# --- JSON bodies -------------------------------------------------------------------------------------


def _raw_json(fields: dict[str, Any], numbers: dict[str, str]) -> bytes:
    """A JSON object with ``numbers`` inserted as literal number tokens (not strings)."""
    text = json.dumps(fields)[:-1]
    for name, literal in numbers.items():
        text += f', "{name}": {literal}'
    return (text + "}").encode()


@PROPERTY
@example(route="create", name="min_disk", value=HUGE)
@example(route="update", name="min_ram", value=HUGE)
@example(route="update", name="min_disk", value="1e400")
@given(
    route=st.sampled_from(["create", "update"]),
    name=st.sampled_from(["min_disk", "min_ram"]),
    value=number_text.filter(bool),
)
def test_numbers_in_json_bodies_are_200_or_400(
    seeded: Seeded, http: httpx.Client, route: str, name: str, value: str
) -> None:
    if route == "create":
        method, path, fields = "POST", "/v1/images", dict(VALID_CREATE)
    else:
        method, path, fields = "PUT", f"/v1/images/{seeded.own['private']}", {}
    target = url(seeded.stack.base_url, path)
    headers = [*signed_headers(method, target, seeded.caller), ("Content-Type", "application/json")]
    response = send(http, method, target, headers, content=_raw_json(fields, {name: value}))
    if response.status_code == 200:
        assert response.json()[name] == int(value)
    else:
        assert_refused(response, 400)


# --- Range -------------------------------------------------------------------------------------------

range_numbers = st.one_of(st.just(""), integer_text.filter(lambda t: not t.startswith("-")))
range_headers = st.one_of(
    st.tuples(range_numbers, range_numbers).map(lambda p: f"bytes={p[0]}-{p[1]}"),
    st.tuples(number_text, number_text).map(lambda p: f"bytes={p[0]}-{p[1]}"),
    st.lists(st.tuples(range_numbers, range_numbers), min_size=2, max_size=3).map(
        lambda ps: "bytes=" + ",".join(f"{a}-{b}" for a, b in ps)
    ),
    st.text(alphabet="bytes=0123456789-, ", max_size=40),
    st.sampled_from(["bytes=١-٢", "bytes=0-0x10", "items=0-1", "bytes 0-1", "bytes=--1", "bytes=1--"]),
)


def _expected(header: str, size: int) -> tuple[int, int] | str | None:
    """The answer RFC 9110 allows for ``header``: (start, end), None for the whole file, or "416".
    Decimal has no digit limit, so this oracle works on the exact values."""
    spec = header.strip()
    if not spec.startswith("bytes="):
        return None
    first, dash, last = spec[len("bytes=") :].partition("-")
    numeric = all(p == "" or (p.isascii() and p.isdigit()) for p in (first, last))
    if not dash or not numeric or (first == "" and last == ""):
        return None
    if first == "":
        length = Decimal(last)
        return "416" if length == 0 else (int(max(0, size - min(length, size))), size - 1)
    start = Decimal(first)
    end = size - 1 if last == "" else int(min(Decimal(last), size - 1))
    return "416" if start >= size or end < start else (int(start), end)


@PROPERTY
@example(header="bytes=" + HUGE + "-")
@example(header="bytes=-" + HUGE)
@example(header="bytes=0-" + HUGE)
@example(header="bytes=" + HUGE + "-" + HUGE)
@example(header="bytes=" + "0" * 5000 + "1-" + "0" * 5000 + "2")
@given(header=range_headers.map(str.strip))  # h11 sends no value with outer whitespace
def test_any_range_header_is_200_206_or_416(seeded: Seeded, http: httpx.Client, header: str) -> None:
    target = url(seeded.stack.base_url, f"/v2/images/{seeded.own['private']}/file")
    headers = [*signed_headers("GET", target, seeded.caller), ("Range", header.encode())]
    response = send(http, "GET", target, headers)
    data = _whole_file(seeded, http)
    expected = _expected(header, len(data))
    if expected == "416":
        assert_refused(response, 416)
        assert response.headers["Content-Range"] == f"bytes */{len(data)}"
    elif expected is None:
        assert response.status_code == 200, (header[:80], response.status_code, response.text[:200])
        assert response.content == data
    else:
        start, end = expected
        assert response.status_code == 206, (header[:80], response.status_code, response.text[:200])
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
        assert response.content == data[start : end + 1]


_WHOLE: dict[str, bytes] = {}


def _whole_file(seeded: Seeded, http: httpx.Client) -> bytes:
    image_id = seeded.own["private"]
    if image_id not in _WHOLE:
        target = url(seeded.stack.base_url, f"/v2/images/{image_id}/file")
        response = send(http, "GET", target, signed_headers("GET", target, seeded.caller))
        assert response.status_code == 200, response.text
        _WHOLE[image_id] = response.content
    return _WHOLE[image_id]


# --- headers read as numbers -------------------------------------------------------------------------


@FEW
@example(timestamp=HUGE)
@example(timestamp="0" * 5000 + "1")
@given(timestamp=number_text.filter(bool))
def test_numeric_timestamps_of_any_length_are_401(seeded: Seeded, http: httpx.Client, timestamp: str) -> None:
    if timestamp.isascii() and timestamp.isdigit() and abs(Decimal(timestamp) - now_ms()) < 290_000:
        return  # a well-formed timestamp inside the window
    target, key = show(seeded), seeded.caller
    signature = compute_signature("GET", str(target), timestamp, key.access_key, key.secret_key)
    headers = [VERSION, ("Scp-Accesskey", key.access_key), ("Scp-Signature", signature)]
    headers += [("Scp-Timestamp", timestamp), ("Scp-ClientType", "Openapi")]
    assert_refused(send(http, "GET", target, headers), 401)


@FEW
@example(weight=HUGE)
@given(weight=number_text)
def test_accept_language_weights_of_any_shape_are_served(
    seeded: Seeded, http: httpx.Client, weight: str
) -> None:
    target = show(seeded)
    headers = [*signed_headers("GET", target, seeded.caller), ("Accept-Language", f"ko-KR;q={weight}, en")]
    assert send(http, "GET", target, headers).status_code == 200


@pytest.mark.parametrize("length", [HUGE, "-1", "1e3", str(2**64 + 1), "0x10"])
def test_content_length_of_any_shape_is_refused_by_the_http_server(seeded: Seeded, length: str) -> None:
    """The HTTP server parses Content-Length before the application: a plain 400, never a 5xx."""
    host, port = seeded.stack.base_url.removeprefix("http://").split(":")
    request = (
        f"POST /v1/images HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n{{}}"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request.encode())
        status_line = sock.recv(64).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 4"), status_line
