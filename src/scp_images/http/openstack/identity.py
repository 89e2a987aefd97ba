"""Just enough Keystone v3: version discovery, ``POST /v3/auth/tokens`` with the
``application_credential`` method (credential id = access key, secret = secret key) and the ``password``
method the ``glance`` CLI insists on (user name = access key, password = secret key, project = account),
and token validation (``GET``/``HEAD /v3/auth/tokens``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import Forbidden, InvalidRequest, NotFound, Unauthenticated
from scp_images.domain.principal import Role
from scp_images.http.audit import AuditedCall
from scp_images.http.deps import Services, services
from scp_images.http.openstack.audit import audited
from scp_images.http.openstack.auth import authorize, tokens
from scp_images.http.public_url import public_base_url
from scp_images.http.request_body import RawBody, json_document, raw_body
from scp_images.http.responses import empty_response, json_response
from scp_images.services.access.auth import may_name_a_key
from scp_images.services.access.tokens import Token

router = APIRouter()
KEYSTONE_VERSION = "v3.14"
DOMAIN = {"id": "default", "name": "Default"}


def identity_url(request: Request) -> str:
    return f"{public_base_url(request)}/identity"


def _version(request: Request) -> dict[str, Any]:
    return {
        "id": KEYSTONE_VERSION,
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{identity_url(request)}/v3/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }


def versions(request: Request) -> Response:
    """``GET /identity``: Keystone's 300 list of versions (only v3)."""
    return json_response({"versions": {"values": [_version(request)]}}, 300)


@router.get("/")
def identity_root(request: Request) -> Response:
    return versions(request)


@router.get("/v3")
@router.get("/v3/")
def identity_v3(request: Request) -> Response:
    return json_response({"version": _version(request)})


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(reason=f"{where} must be an object")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 256:
        raise InvalidRequest(reason=f"{where} must be a non-empty string")
    return value


def _credentials(identity: dict[str, Any]) -> tuple[str, str, str]:
    """(method, access key, secret key) from the first method we know."""
    methods = identity.get("methods")
    if not isinstance(methods, list) or not methods:
        raise InvalidRequest(reason="auth.identity.methods must list application_credential or password")
    if "application_credential" in methods:
        cred = _object(identity.get("application_credential"), "auth.identity.application_credential")
        key = cred.get("id") if cred.get("id") is not None else cred.get("name")
        return (
            "application_credential",
            _string(key, "application_credential.id"),
            _string(cred.get("secret"), "application_credential.secret"),
        )
    if "password" in methods:
        user = _object(
            _object(identity.get("password"), "auth.identity.password").get("user"), "password.user"
        )
        key = user.get("name") if user.get("name") is not None else user.get("id")
        return (
            "password",
            _string(key, "password.user.name"),
            _string(user.get("password"), "password.user.password"),
        )
    raise Unauthenticated(reason="only the application_credential and password methods are supported")


def _check_scope(auth: dict[str, Any], token: Token) -> None:
    """A scope, when given, must name the key's own account (by id or by name)."""
    scope = auth.get("scope")
    if scope is None or scope == "unscoped":
        return
    scope = _object(scope, "auth.scope")
    if "project" not in scope:
        # A domain or system scope: a key holds a role on its account only (Keystone answers 401 too).
        raise Unauthenticated(reason="a key can be scoped to its own account's project only")
    project = _object(scope["project"], "auth.scope.project")
    named = project.get("id") if project.get("id") is not None else project.get("name")
    if named not in (token.key.account_id, token.key.account_name):
        raise Unauthenticated(reason="the credential is not valid for this project")


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _service(kind: str, name: str, url: str, endpoint: dict[str, str]) -> dict[str, Any]:
    endpoints = [{**endpoint, "id": f"{kind}-public-{endpoint['region']}", "url": url}]
    return {"type": kind, "name": name, "id": kind, "endpoints": endpoints}


# Keystone's default implied roles (keystone-manage bootstrap): admin implies member, member implies
# reader; a token lists the assigned role with every role it implies.
_IMPLIED = {Role.ADMIN: (Role.ADMIN, Role.MEMBER, Role.READER), Role.MEMBER: (Role.MEMBER, Role.READER)}


def token_roles(role: Role) -> list[dict[str, str]]:
    """The key's role as read from its row when the token is issued or checked, never from the token."""
    return [{"id": r.value, "name": r.value} for r in _IMPLIED.get(role, (role,))]


def token_body(request: Request, token: Token, *, catalog: bool = True) -> dict[str, Any]:
    key = token.key
    region = services(request).limits.region
    endpoint = {"interface": "public", "region_id": region, "region": region}
    body: dict[str, Any] = {
        "token": {
            "methods": list(token.methods),
            "issued_at": _stamp(token.issued_at),
            "expires_at": _stamp(token.expires_at),
            "audit_ids": [token.value[-22:]],
            "user": {"id": key.user_name, "name": key.user_name, "domain": DOMAIN},
            "project": {"id": key.account_id, "name": key.account_name, "domain": DOMAIN},
            "roles": token_roles(key.role),
            "application_credential": {"id": key.access_key, "name": key.access_key, "restricted": True},
            # identity too, as every Keystone lists it: gophercloud's NewIdentityV3 with endpoint options
            # (Terraform's identity client, its auth-scope data source) finds Keystone only here.
            "catalog": [
                _service("image", "glance", f"{public_base_url(request)}/image", endpoint),
                _service("identity", "keystone", identity_url(request), endpoint),
            ],
        }
    }
    if not catalog:
        del body["token"]["catalog"]
    return body


def _parse(raw: RawBody, limit: int) -> dict[str, Any]:
    data = json_document(raw, limit, empty_is_none=False)
    return _object(_object(data, "body").get("auth"), "auth")


@router.post("/v3/auth/tokens")
async def issue_token(request: Request, raw: RawBody = Depends(raw_body)) -> Response:
    """A refused sign-in (400, 401, 429) is recorded with the key it named; an issued token changes
    nothing, so it is not."""
    audit = audited(request, AuditAction.TOKEN_ISSUE, 201)
    try:
        return await _issue(request, raw, audit)
    except Exception as exc:
        await anyio.to_thread.run_sync(audit.failed, exc)
        raise


async def _issue(request: Request, raw: RawBody, audit: AuditedCall) -> Response:
    svc = services(request)
    auth = _parse(raw, svc.limits.max_body_bytes)
    method, access_key, secret_key = _credentials(_object(auth.get("identity"), "auth.identity"))
    audit.presented(access_key)
    request_id = request.scope["state"].get("request_id", "")
    token = await anyio.to_thread.run_sync(_sign_in, svc, access_key, secret_key, method, request_id)
    _check_scope(auth, token)
    return json_response(token_body(request, token), 201, {"X-Subject-Token": token.value})


def _sign_in(svc: Services, access_key: str, secret_key: str, method: str, request_id: str) -> Token:
    """The key's own request budget is spent before its secret is compared, so guessing a secret goes no
    faster than any other call by that key. A name no key can have has no budget: it never signs in."""
    if may_name_a_key(access_key):
        svc.guard.take_rate(access_key)
    return tokens(svc).issue(access_key, secret_key, (method,), request_id)


def _subject(request: Request) -> Token:
    """The token named by X-Subject-Token, checked for the caller of X-Auth-Token.

    Keystone's statuses: 401 for a bad caller token, 404 for a subject token that is not (or no longer)
    valid, 403 when a non-admin asks about another user's token (its ``token_subject`` policy)."""
    svc = tokens(services(request))
    caller = authorize(request, None).principal
    subject = request.headers.get("x-subject-token", "").strip()
    try:
        token = svc.verify(subject)
    except Unauthenticated:
        raise NotFound("Could not find token: it is not valid or has expired.") from None
    if (token.key.account_id, token.key.user_name) != (caller.account_id, caller.user_name):
        raise Forbidden(action="identity:validate_token")
    return token


@router.api_route("/v3/auth/tokens", methods=["GET", "HEAD"])
def validate_token(request: Request) -> Response:
    """``GET`` answers the token as issued (without the catalog for ``?nocatalog``); ``HEAD`` the same
    status and headers without a body."""
    token = _subject(request)
    headers = {"X-Subject-Token": token.value}
    if request.method == "HEAD":
        return empty_response(200, headers)
    body = token_body(request, token, catalog="nocatalog" not in request.query_params)
    return json_response(body, 200, headers)
