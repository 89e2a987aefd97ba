"""The live server against the official virtualserver 1.0 OpenAPI document, driven by schemathesis.

Every operation of the document runs with positive and negative data through the examples, coverage and
fuzzing phases. Each request is signed the SCP way at send time (the signature covers the exact URL on
the wire, query included) and carries ``Scp-Api-Version: virtualserver 1.0``, so the 1.0 response schemas
of the document are the ones the server must meet.

Checks: no 5xx, response schema, status code and content type conformance, and for every 4xx the SCP
error envelope whose ``request_id`` is the ``X-Request-Id`` header. ``SCP_IMAGES_CONFORMANCE_EXAMPLES``
sets the fuzzing examples per operation (default 25; a long run: 1000).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import schemathesis
from schemathesis import Case, CheckContext
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.transport import Response

from scp_images.signing import sign_request
from tests.conformance.seed import Seeded, seeded_stack
from tests.support.stack import Key
from tests.support.tools import missing, reference_file

# The official document: SCP_IMAGES_OPENAPI_DOCUMENT, else shared/reference/ beside the checkout.
DOCUMENT = reference_file("scp-virtualserver-images-1.0.openapi.yaml", "SCP_IMAGES_OPENAPI_DOCUMENT")
EXAMPLES = int(os.environ.get("SCP_IMAGES_CONFORMANCE_EXAMPLES", "25"))
# SQLite by default; SCP_IMAGES_CONFORMANCE_DATABASE=postgres runs the same against PostgreSQL.
DATABASE = os.environ.get("SCP_IMAGES_CONFORMANCE_DATABASE", "sqlite")

if not DOCUMENT.is_file():  # pragma: no cover - depends on the checkout
    missing(
        f"the official OpenAPI document is not at {DOCUMENT}: put shared/ beside the checkout "
        "or set SCP_IMAGES_OPENAPI_DOCUMENT",
        module_level=True,
    )

CONFIG = schemathesis.Config.from_dict(
    {
        "headers": {"Scp-Api-Version": "virtualserver 1.0", "Accept-Language": "en-US"},
        "request-timeout": 30,
        "generation": {"mode": "all", "max-examples": EXAMPLES, "with-security-parameters": False},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
        "checks": {
            # The document declares an `X-Auth-Token` apiKey scheme, while every request here is
            # HMAC-signed (Scp-* headers); removing or garbling X-Auth-Token rightly changes nothing.
            "ignored_auth": {"enabled": False},
            # The document types `image_id` (and `server_id`, `member_id`) as any string and leaves
            # `visibility`/`container_format` patterns unanchored; a value that is not a UUID (or not
            # exactly "private"/"bare") is rightly a 400, so schema-valid data is not always accepted.
            "positive_data_acceptance": {"enabled": False},
            # `Allow` must list every method the server serves on a path, and on
            # /v1/images/{image_id}/import that includes the GET of our import-status extension, which
            # the official document does not know; the check wants exactly the documented methods.
            "allow_header_conformance": {"enabled": False},
        },
    }
)

schema = schemathesis.openapi.from_path(DOCUMENT, config=CONFIG)


class ScpSigner(requests.auth.AuthBase):
    """Signs a prepared request at send time, so the signature covers the final, encoded URL."""

    def __init__(self) -> None:
        self.key: Key | None = None

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        assert self.key is not None, "the seeded stack fixture sets the key"
        assert r.method is not None and r.url is not None
        signed = sign_request(r.method, r.url, self.key.access_key, self.key.secret_key)
        r.headers.update(signed.as_dict())
        return r


SIGNER = ScpSigner()
# The auth hook: every generated case gets the signer as its `requests` auth.
schema.auth.set_from_requests(SIGNER)


@schema.hook
def filter_failure(context: schemathesis.HookContext, failure: Any, case: Case, response: Response) -> bool:
    """Keep every failure except one documented leniency: an empty query value counts as absent (`?limit=`,
    `?visibility=` list as if not given), so such a request is not schema-violating data wrongly accepted."""
    if isinstance(failure, AcceptedNegativeData):
        sent = parse_qsl(urlsplit(response.request.url or "").query, keep_blank_values=True)
        return all(value != "" for _, value in sent)
    return True


@pytest.fixture(scope="module")
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    with seeded_stack(request, tmp_path_factory.mktemp("conformance"), DATABASE) as running:
        SIGNER.key = running.caller
        yield running
        SIGNER.key = None


@pytest.fixture(scope="module")
def session(seeded: Seeded) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.trust_env = False
        yield http


# The example values of the document's path parameters.
DOCUMENT_EXAMPLE_IDS = {"1bea47ed-f6a9-463b-b423-14b9cca9ad27", "8989447062e04a818baf9e073fd04fa7"}


def known_ids(seeded: Seeded, operation: str) -> dict[str, list[str]]:
    """Real ids to put into path parameters; destructive calls only get ids they cannot destroy."""
    if operation.startswith("DELETE /v1/images/{image_id}") and "members" not in operation:
        images = [seeded.own["protected"], *seeded.foreign.values()]
    else:
        images = seeded.all_ids
    return {"image_id": images, "member_id": [seeded.other.account_id, seeded.caller.account_id]}


def with_known_ids(case: Case, seeded: Seeded) -> None:
    """Most positive path parameters become real ids: the document's example id always, other values
    about half of the time. The choice hashes the case, so a replayed case makes the same one."""
    meta = case.meta
    if meta is not None and meta.generation.mode.is_negative:
        return
    pools = known_ids(seeded, f"{case.method.upper()} {case.path}")
    digest = zlib.crc32(repr((case.path_parameters, case.query, case.body)).encode())
    for name, value in list((case.path_parameters or {}).items()):
        pool = pools.get(name)
        if pool and (value in DOCUMENT_EXAMPLE_IDS or digest % 2 == 0):
            case.path_parameters[name] = pool[(digest >> 1) % len(pool)]


def error_envelope(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx answer is the SCP error envelope, its request_id being the X-Request-Id header."""
    if not 400 <= response.status_code < 500:
        return None
    request_ids = response.headers.get("x-request-id") or []
    assert len(request_ids) == 1, f"{response.status_code} without exactly one X-Request-Id header"
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"errors"}, f"not the error envelope: {body!r}"
    errors = body["errors"]
    assert isinstance(errors, list) and len(errors) == 1, f"not one error: {body!r}"
    (item,) = errors
    assert set(item) == {"status", "code", "title", "detail", "request_id"}, f"envelope fields: {item!r}"
    assert item["status"] == response.status_code, f"status {item['status']} in a {response.status_code}"
    for name in ("code", "title", "detail"):
        assert isinstance(item[name], str) and item[name], f"empty {name}: {item!r}"
    assert item["request_id"] == request_ids[0], "request_id differs from X-Request-Id"
    return True


def request_id_header(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every response carries exactly one `X-Request-Id` (`req-` and 32 hex digits)."""
    values = response.headers.get("x-request-id") or []
    assert len(values) == 1, f"{response.status_code} with X-Request-Id {values!r}"
    assert values[0].startswith("req-") and len(values[0]) == 36, values[0]
    return True


def no_body_when_accepted_or_empty(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """202 (import, share) and 204 (deletes) have no body in the document, and none on the wire."""
    if response.status_code not in (202, 204):
        return None
    assert response.content == b"", f"{response.status_code} with a body: {response.content[:200]!r}"
    return True


COMPONENTS = schema.raw_schema["components"]["schemas"]


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = COMPONENTS[node["$ref"].rsplit("/", 1)[1]]
    return node


def undeclared_fields(node: dict[str, Any], value: Any, where: str = "body") -> list[str]:
    """Keys of ``value`` that the document's schema ``node`` does not declare, recursively."""
    node = _resolve(node)
    if isinstance(value, list) and "items" in node:
        return [
            f for i, item in enumerate(value) for f in undeclared_fields(node["items"], item, f"{where}[{i}]")
        ]
    if not (isinstance(value, dict) and "properties" in node):
        return []
    found = [f"{where}.{key}" for key in value if key not in node["properties"]]
    for key, sub in node["properties"].items():
        if key in value:
            found += undeclared_fields(sub, value[key], f"{where}.{key}")
    return found


def exact_1_0_fields(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """The Go SDK decodes 1.0 bodies with DisallowUnknownFields: a 2xx body has no field the document
    does not declare (e.g. 1.2's scp_gpu_driver)."""
    if not 200 <= response.status_code < 300 or not response.content:
        return None
    declared = case.operation.definition.raw["responses"].get(str(response.status_code), {})
    body_schema = declared.get("content", {}).get("application/json", {}).get("schema")
    if body_schema is None:
        return None
    extra = undeclared_fields(body_schema, response.json())
    assert not extra, f"fields the 1.0 document does not declare: {extra[:10]}"
    return True


EXTRA_CHECKS = [error_envelope, request_id_header, no_body_when_accepted_or_empty, exact_1_0_fields]


@schema.parametrize()
def test_operation_conforms(case: Case, seeded: Seeded, session: requests.Session) -> None:
    """Built-in checks on: not_a_server_error, status_code_conformance, content_type_conformance,
    response_schema_conformance, response_headers_conformance, negative_data_rejection,
    missing_required_header (and every other default one except the three turned off above)."""
    with_known_ids(case, seeded)
    case.call_and_validate(base_url=seeded.stack.base_url, session=session, additional_checks=EXTRA_CHECKS)


def test_server_custom_image_is_not_found_with_envelope(seeded: Seeded) -> None:
    """POST /v1/servers/{id}/images: this service hosts no servers, so a well-formed call answers 404."""
    server_id = "70a599e0-31e7-49b7-b260-868f441e862b"
    response = seeded.stack.request(
        "POST", f"/v1/servers/{server_id}/images", seeded.caller, version="1.0", json={"image_name": "img"}
    )
    assert response.status_code == 404, response.text
    (item,) = response.json()["errors"]
    assert item["status"] == 404
    assert item["request_id"] == response.headers["x-request-id"]


DOCUMENTED_METHODS = {
    path: {method.upper() for method in item if method in {"get", "put", "post", "delete", "patch"}}
    for path, item in schema.raw_schema["paths"].items()
}


def test_undeclared_method_is_405_with_allow(seeded: Seeded) -> None:
    """RFC 9110 §15.5.6: a 405 carries `Allow` listing (at least) the methods the resource supports."""
    image_id, member_id = seeded.own["shared"], seeded.other.account_id
    wrong = []
    for path, methods in sorted(DOCUMENTED_METHODS.items()):
        concrete = path.format(image_id=image_id, member_id=member_id, server_id=image_id)
        response = seeded.stack.request("TRACE", concrete, seeded.caller, version="1.0")
        assert response.status_code == 405, response.text
        assert response.json()["errors"][0]["request_id"] == response.headers["x-request-id"]
        allow = {m.strip().upper() for m in response.headers.get("allow", "").split(",") if m.strip()}
        if not methods <= allow:
            wrong.append(
                f"TRACE {path}: Allow {response.headers.get('allow')!r}, documented {sorted(methods)}"
            )
    assert not wrong, "405 without a complete Allow header:\n" + "\n".join(wrong)
