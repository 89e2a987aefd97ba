"""Hostile headers, bodies, path ids and queries over real HTTP: never a 5xx, never a pass for a wrong
signature, and every refusal the SCP error envelope (or a plain 4xx when the HTTP server refused the
request before the application: no ``X-Request-Id`` then)."""

from __future__ import annotations

import base64
import json
import os
import string
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scp_images.signing import compute_signature
from tests.conformance.seed import CALLER_ACCOUNT, GRANTED_BUCKET, Seeded
from tests.hostile.wire import (
    SIGNING_HEADERS,
    VERSION,
    assert_refused,
    chunks,
    replace,
    signed_headers,
    url,
    without,
)

# Examples per property (a long run: SCP_IMAGES_HOSTILE_EXAMPLES=2000); each is one real HTTP request.
EXAMPLES = int(os.environ.get("SCP_IMAGES_HOSTILE_EXAMPLES", "80"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(PROPERTY, max_examples=max(10, EXAMPLES // 3))

# Header values an HTTP/1.1 client can put on the wire: visible ASCII, inner spaces allowed.
VISIBLE = string.ascii_letters + string.digits + string.punctuation
header_text = st.text(alphabet=VISIBLE + " ", min_size=1, max_size=80).map(str.strip).filter(bool)
OBJECT_URL = (
    f"https://object-store.kr-west1.e.samsungsdscloud.com/{CALLER_ACCOUNT}/{GRANTED_BUCKET}/disk.qcow2"
)
VALID_CREATE = {"name": "hostile", "os_distro": "ubuntu", "url": OBJECT_URL}


def now_ms() -> int:
    return int(time.time() * 1000)


def show(seeded: Seeded, image_id: str | None = None) -> httpx.URL:
    return url(seeded.stack.base_url, f"/v1/images/{image_id or seeded.own['private']}")


def send(http: httpx.Client, method: str, target: httpx.URL, headers: Any, **kwargs: Any) -> httpx.Response:
    return http.request(method, target, headers=headers, **kwargs)


def recased(name: str) -> st.SearchStrategy[str]:
    flags = st.lists(st.booleans(), min_size=len(name), max_size=len(name))
    return flags.map(lambda fs: "".join(c.upper() if f else c.lower() for c, f in zip(name, fs, strict=True)))


# --- signing headers -------------------------------------------------------------------------------------


@PROPERTY
@given(
    names=st.tuples(*(recased(n) for n in (*SIGNING_HEADERS, VERSION[0]))),
    which=st.sampled_from(["private", "shared", "public", "shared-with-me"]),
    order=st.randoms(use_true_random=False),
)
def test_recased_header_names_still_authenticate(
    seeded: Seeded, http: httpx.Client, names: tuple[str, ...], which: str, order: Any
) -> None:
    image_id = {"public": seeded.foreign["public"], "shared-with-me": seeded.foreign["shared"]}.get(
        which, seeded.own.get(which)
    )
    target = show(seeded, image_id)
    canonical = dict(signed_headers("GET", target, seeded.caller))
    headers = [(name, canonical[c]) for name, c in zip(names, (*SIGNING_HEADERS, VERSION[0]), strict=True)]
    order.shuffle(headers)
    response = send(http, "GET", target, headers)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == image_id


def _timestamps() -> st.SearchStrategy[Callable[[int], str]]:
    """Functions of the current time in ms giving a timestamp the server must refuse."""
    far = st.integers(min_value=0, max_value=10**16 - 1).map(lambda n: lambda now: str(n))
    return st.one_of(
        st.text(alphabet=VISIBLE, min_size=1, max_size=30)
        .filter(lambda s: not s.isdigit())
        .map(lambda s: lambda _: s),
        st.integers(min_value=10**16, max_value=10**80).map(lambda n: lambda _: str(n)),
        st.integers(max_value=-1).map(lambda n: lambda _: str(n)),
        st.floats(allow_nan=True, allow_infinity=True).map(lambda f: lambda _: repr(f)),
        st.integers(min_value=-299_000, max_value=299_000).map(lambda d: lambda now: f"{now + d}.0"),
        st.sampled_from(["+{}", "{}ms", "00000{}", "{}e0", "0x{:x}", "{}_0", "-{}", "{},{}"]).map(
            lambda f: lambda now: f.format(now, now)
        ),
        st.integers(min_value=301_000, max_value=10**12).map(lambda d: lambda now: str(now + d)),
        st.integers(min_value=301_000, max_value=10**12).map(lambda d: lambda now: str(max(now - d, 0))),
        far,
    )


@PROPERTY
@given(make=_timestamps())
def test_malformed_or_stale_timestamps_are_401(
    seeded: Seeded, http: httpx.Client, make: Callable[[int], str]
) -> None:
    now = now_ms()
    timestamp = make(now)
    if timestamp.isascii() and timestamp.isdigit() and abs(int(timestamp) - now) < 290_000:
        return  # a well-formed timestamp inside the window (possible for the "far" draw)
    target, key = show(seeded), seeded.caller
    signature = compute_signature("GET", str(target), timestamp, key.access_key, key.secret_key)
    headers = [VERSION, ("Scp-Accesskey", key.access_key), ("Scp-Signature", signature)]
    headers += [("Scp-Timestamp", timestamp), ("Scp-ClientType", "Openapi")]
    assert_refused(send(http, "GET", target, headers), 401)


def _bad_signatures() -> st.SearchStrategy[Callable[[str], str]]:
    """Functions of the right signature giving a wrong one."""
    constant = st.one_of(
        st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode()),
        st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()),
        st.text(alphabet=VISIBLE, min_size=1, max_size=100),
        st.just("A" * 10 * 1024),
    )
    tweaks = st.sampled_from(
        [
            str.swapcase,
            lambda s: s.rstrip("="),
            lambda s: s + "=",
            lambda s: s.replace("+", "-").replace("/", "_"),
            lambda s: base64.b64encode(base64.b64decode(s)[::-1]).decode(),
            lambda s: s[:-2] + ("AA" if not s[:-2].endswith("AA") else "BB"),
            lambda s: base64.b64encode(base64.b64decode(s)).decode() + "AA==",
            lambda s: base64.b16encode(base64.b64decode(s)).decode(),
        ]
    )
    return st.one_of(constant.map(lambda c: lambda _: c), tweaks)


@PROPERTY
@given(make=_bad_signatures())
def test_wrong_signatures_never_pass(seeded: Seeded, http: httpx.Client, make: Callable[[str], str]) -> None:
    target = show(seeded)
    headers = signed_headers("GET", target, seeded.caller)
    right = dict(headers)["Scp-Signature"]
    wrong = make(right)
    if wrong == right:
        return  # a tweak that changes nothing for this signature (no '+' or '/' to replace)
    assert_refused(send(http, "GET", target, replace(headers, "Scp-Signature", wrong)), 401)


def test_empty_signature_is_401(seeded: Seeded, http: httpx.Client) -> None:
    target = show(seeded)
    headers = replace(signed_headers("GET", target, seeded.caller), "Scp-Signature", "")
    assert_refused(send(http, "GET", target, headers), 401)


@PROPERTY
@given(access_key=st.one_of(header_text, st.just("K" * 16 * 1024)))
def test_unknown_access_keys_are_401(seeded: Seeded, http: httpx.Client, access_key: str) -> None:
    """Signed with the caller's secret, so only the access key is wrong."""
    key = seeded.caller
    if access_key == key.access_key:
        return
    target = show(seeded)
    timestamp = str(now_ms())
    signature = compute_signature("GET", str(target), timestamp, access_key, key.secret_key)
    headers = [VERSION, ("Scp-Accesskey", access_key), ("Scp-Signature", signature)]
    headers += [("Scp-Timestamp", timestamp), ("Scp-ClientType", "Openapi")]
    assert_refused(send(http, "GET", target, headers), 401)


@FEW
@given(
    name=st.sampled_from([*SIGNING_HEADERS, "Scp-AccountId"]).flatmap(recased),
    same_value=st.booleans(),
    first=st.booleans(),
)
def test_duplicated_signing_headers_are_401(
    seeded: Seeded, http: httpx.Client, name: str, same_value: bool, first: bool
) -> None:
    target, key = show(seeded), seeded.caller
    headers = signed_headers("GET", target, key)
    if name.lower() == "scp-accountid":
        signed = compute_signature(
            "GET", str(target), dict(headers)["Scp-Timestamp"], key.access_key, key.secret_key, key.account_id
        )
        headers = [*replace(headers, "Scp-Signature", signed), ("Scp-AccountId", key.account_id)]
    value = next(v for n, v in headers if n.lower() == name.lower())
    extra = (name, value if same_value else value + "x")
    headers = [extra, *headers] if first else [*headers, extra]
    assert_refused(send(http, "GET", target, headers), 401)


def test_duplicated_version_header_is_400(seeded: Seeded, http: httpx.Client) -> None:
    target = show(seeded)
    headers = [*signed_headers("GET", target, seeded.caller), ("scp-api-version", "virtualserver 1.3")]
    assert_refused(send(http, "GET", target, headers), 400)


@pytest.mark.parametrize("name", [*SIGNING_HEADERS, "Scp-AccountId", "Scp-Api-Version"])
def test_oversized_scp_header_values_are_refused(seeded: Seeded, http: httpx.Client, name: str) -> None:
    target = show(seeded)
    headers = [*without(signed_headers("GET", target, seeded.caller), name), (name, "7" * 16 * 1024)]
    assert_refused(send(http, "GET", target, headers), 400 if name == "Scp-Api-Version" else 401)


def test_huge_header_section_is_never_a_server_error(seeded: Seeded, http: httpx.Client) -> None:
    """Signed correctly, with 64 extra headers of 1 KiB: served, or refused by the HTTP server."""
    target = show(seeded)
    headers = [
        *signed_headers("GET", target, seeded.caller),
        *((f"X-Pad-{i}", "p" * 1024) for i in range(64)),
    ]
    response = send(http, "GET", target, headers)
    if response.status_code != 200:
        assert_refused(response)


def test_missing_signing_headers_are_401(seeded: Seeded, http: httpx.Client) -> None:
    target = show(seeded)
    for name in SIGNING_HEADERS:
        assert_refused(
            send(http, "GET", target, without(signed_headers("GET", target, seeded.caller), name)), 401
        )


# --- bodies ----------------------------------------------------------------------------------------------


def body_routes(seeded: Seeded) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Every operation with a JSON body: method, path and a valid body."""
    own, shared = seeded.own["private"], seeded.own["shared"]
    return {
        "create": ("POST", "/v1/images", VALID_CREATE),
        "update": ("PUT", f"/v1/images/{own}", {"min_disk": 1}),
        "import": ("POST", f"/v1/images/{own}/import", {"url": OBJECT_URL}),
        "add-member": ("POST", f"/v1/images/{shared}/members", {"member_id": seeded.other.account_id}),
        "set-member": (
            "PUT",
            f"/v1/images/{seeded.foreign['shared']}/members/{seeded.caller.account_id}",
            {"status": "pending"},
        ),
        "server-image": ("POST", f"/v1/servers/{own}/images", {"image_name": "x"}),
    }


BODY_ROUTES = ["create", "update", "import", "add-member", "set-member", "server-image"]
# Routes whose body has a required field, so any JSON object without it is a 400.
STRICT_ROUTES = ["create", "import", "add-member", "set-member", "server-image"]


def post_body(
    seeded: Seeded, http: httpx.Client, route: str, content: Any, content_type: str | None
) -> httpx.Response:
    method, path, _ = body_routes(seeded)[route]
    target = url(seeded.stack.base_url, path)
    headers = signed_headers(method, target, seeded.caller)
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    return send(http, method, target, headers, content=content)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("route", BODY_ROUTES)
def test_bodies_over_one_mib_are_413(seeded: Seeded, http: httpx.Client, route: str, chunked: bool) -> None:
    _, _, valid = body_routes(seeded)[route]
    data = json.dumps({**valid, "padding": "x" * (1 << 20)}).encode()
    response = post_body(seeded, http, route, chunks(data) if chunked else data, "application/json")
    assert_refused(response, 413)


def _not_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return True
    return False


@PROPERTY
@given(route=st.sampled_from(BODY_ROUTES), data=st.binary(max_size=300).filter(_not_json))
def test_invalid_json_is_400(seeded: Seeded, http: httpx.Client, route: str, data: bytes) -> None:
    assert_refused(post_body(seeded, http, route, data, "application/json"), 400)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@PROPERTY
@given(route=st.sampled_from(BODY_ROUTES), value=json_values.filter(lambda v: not isinstance(v, dict)))
def test_json_that_is_not_an_object_is_400(
    seeded: Seeded, http: httpx.Client, route: str, value: Any
) -> None:
    assert_refused(post_body(seeded, http, route, json.dumps(value).encode(), "application/json"), 400)


@PROPERTY
@given(
    route=st.sampled_from(STRICT_ROUTES), value=st.dictionaries(st.text(max_size=12), json_values, max_size=5)
)
def test_json_objects_missing_required_fields_are_refused(
    seeded: Seeded, http: httpx.Client, route: str, value: dict[str, Any]
) -> None:
    """Random objects (nearly always missing a required field or of the wrong types): a 4xx, never a 5xx."""
    response = post_body(seeded, http, route, json.dumps(value).encode(), "application/json")
    assert_refused(response)


WRONG_TYPES = [
    "text/plain",
    "text/plain; charset=utf-8",
    "multipart/form-data; boundary=xyz",
    "application/x-www-form-urlencoded",
    "application/xml",
    "application/octet-stream",
    "image/png",
]
media_types = st.sampled_from(WRONG_TYPES) | st.builds(
    "{}/{}".format,
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=10),
    st.text(alphabet=string.ascii_lowercase + "-.+", min_size=1, max_size=12).filter(
        lambda t: not t.endswith("json")
    ),
)


@PROPERTY
@given(route=st.sampled_from(BODY_ROUTES), content_type=media_types)
def test_wrong_content_types_are_400(
    seeded: Seeded, http: httpx.Client, route: str, content_type: str
) -> None:
    _, _, valid = body_routes(seeded)[route]
    assert_refused(post_body(seeded, http, route, json.dumps(valid).encode(), content_type), 400)


def test_multipart_body_is_400(seeded: Seeded, http: httpx.Client) -> None:
    target = url(seeded.stack.base_url, "/v1/images")
    headers = signed_headers("POST", target, seeded.caller)
    response = http.post(
        target, headers=headers, files={"file": ("a.json", json.dumps(VALID_CREATE).encode())}
    )
    assert_refused(response, 400)


def test_missing_content_type_on_create_is_read_as_json(seeded: Seeded, http: httpx.Client) -> None:
    """Decision: a body without Content-Type is read as JSON (clients such as scpv2 omit it when they send
    no body, and the body alone decides); so a valid body creates the image."""
    response = post_body(seeded, http, "create", json.dumps(VALID_CREATE).encode(), None)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "hostile"


# --- path ids and queries --------------------------------------------------------------------------------

# A segment that reaches the route as one id: no '/', and not a dot segment the client would remove.
path_ids = st.text(min_size=1, max_size=60).filter(lambda t: "/" not in t and t not in {".", ".."})

ID_ROUTES = [
    ("GET", "/v1/images/{}"),
    ("PUT", "/v1/images/{}"),
    ("DELETE", "/v1/images/{}"),
    ("POST", "/v1/images/{}/import"),
    ("GET", "/v1/images/{}/members"),
    ("POST", "/v1/images/{}/members"),
    ("POST", "/v1/images/{}/share"),
    ("POST", "/v1/servers/{}/images"),
    ("GET", "/v1/images/{image}/members/{}"),
    ("PUT", "/v1/images/{image}/members/{}"),
    ("DELETE", "/v1/images/{image}/members/{}"),
]
ROUTE_BODIES = {"PUT": {"status": "accepted", "min_disk": 1}, "POST": {"url": OBJECT_URL, "image_name": "x"}}


@PROPERTY
@example(route=("GET", "/v1/images/{image}/members/{}"), raw_id="\x00", safe="")
@example(route=("DELETE", "/v1/images/{image}/members/{}"), raw_id="a\x00", safe="")
@given(route=st.sampled_from(ID_ROUTES), raw_id=path_ids, safe=st.sampled_from(["", "~!$&'()*+,;=:@"]))
def test_random_path_ids_are_4xx(
    seeded: Seeded, http: httpx.Client, route: tuple[str, str], raw_id: str, safe: str
) -> None:
    method, template = route
    path = template.replace("{image}", seeded.own["shared"]).format(quote(raw_id, safe=safe))
    target = url(seeded.stack.base_url, path)
    body = ROUTE_BODIES.get(method)
    response = send(
        http,
        method,
        target,
        signed_headers(method, target, seeded.caller),
        content=json.dumps(body).encode() if body else None,
    )
    assert_refused(response)


def test_trailing_slash_never_reaches_an_operation(seeded: Seeded, http: httpx.Client) -> None:
    """Starlette's redirect_slashes answers 307 to the path without the slash (before authentication);
    the redirected request carries a signature for the old URL, so it is refused there. Never a 2xx here."""
    for path in ["/v1/images/", f"/v1/images/{seeded.own['private']}/", "/v1/pending-images/"]:
        target = url(seeded.stack.base_url, path)
        response = send(http, "GET", target, signed_headers("GET", target, seeded.caller))
        if response.status_code == 307:
            assert response.headers["location"].endswith(path.rstrip("/")), response.headers
        else:
            assert_refused(response, 404)


LIST_PARAMS = [
    "limit",
    "marker",
    "sort",
    "visibility",
    "os_hidden",
    "name",
    "os_distro",
    "status",
    "scp_image_type",
    "scp_original_image_type",
    "source",
    "x-unknown",
]
query_values = st.text(max_size=40) | st.sampled_from(["", "0", "1001", "-1", "²", "١٢", "true", "NaN"])


@PROPERTY
@example(path="/v1/images", params={"limit": "²"})
@example(path="/v1/images", params={"name": "\x00"})
@example(path="/v1/pending-images", params={"scp_image_type": "a\x00"})
@given(
    path=st.sampled_from(["/v1/images", "/v1/pending-images"]),
    params=st.dictionaries(
        st.sampled_from(LIST_PARAMS) | st.text(min_size=1, max_size=12), query_values, max_size=4
    ),
)
def test_random_list_queries_are_200_or_400(
    seeded: Seeded, http: httpx.Client, path: str, params: dict[str, str]
) -> None:
    """Every query the client encodes is signed correctly (never a 401) and answered 200 or 400."""
    target = url(seeded.stack.base_url, path, params)
    response = send(http, "GET", target, signed_headers("GET", target, seeded.caller))
    if response.status_code == 200:
        assert isinstance(response.json()["images"], list)
    else:
        assert_refused(response, 400)


@PROPERTY
@example(limit="²")
@example(limit="١٢")
@given(limit=st.text(min_size=1, max_size=12).filter(lambda t: not (t.isascii() and t.isdigit())))
def test_non_numeric_limit_is_400(seeded: Seeded, http: httpx.Client, limit: str) -> None:
    target = url(seeded.stack.base_url, "/v1/images", {"limit": limit})
    assert_refused(send(http, "GET", target, signed_headers("GET", target, seeded.caller)), 400)
