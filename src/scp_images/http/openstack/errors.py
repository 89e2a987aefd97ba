"""Errors in the form OpenStack's clients parse: ``{"error": {"code", "title", "message"}}`` with a JSON
Content-Type (glanceclient crashes on Glance's flat form and on a body without a type).

Statuses come from the one error table (``http.errors``); the few places where Glance answers another
status for the same condition are listed here, so the v2 clients see what they expect."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain import errors as e
from scp_images.http.errors import localised_detail, spec_for
from scp_images.http.metrics import note_refusal
from scp_images.http.public_url import public_base_url
from scp_images.http.responses import json_response
from scp_images.http.routing import allowed_methods

# Glance's statuses where they differ from the SCP API's.
_GLANCE_STATUS: dict[type[e.DomainError], tuple[int, str]] = {
    e.ImageNotShared: (403, "Forbidden"),  # adding a member to a non-shared image
    e.ImageProtected: (403, "Forbidden"),  # deleting a protected image
    e.MemberExists: (409, "Conflict"),
    e.MetadefProtected: (403, "Forbidden"),  # deleting a protected namespace or its definitions
}
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
}


class UnsupportedMedia(Exception):
    """415: raised by a route for a body of another media type (the domain has no notion of media types)."""

    def __init__(self, media: str, wanted: tuple[str, ...], *, accept_patch: bool = False) -> None:
        super().__init__(media)
        self.media = media
        self.wanted = wanted
        self.accept_patch = accept_patch  # a PATCH: name the media types in Accept-Patch (RFC 5789)


def openstack_error(status: int, title: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"code": status, "title": title, "message": message}}
    return json_response(body, status, headers)


def _language(request: Request) -> str:
    return str(request.scope.get("state", {}).get("language", "en-US"))


def _status(error: e.DomainError) -> tuple[int, str]:
    for cls in type(error).__mro__:
        if cls in _GLANCE_STATUS:
            return _GLANCE_STATUS[cls]  # type: ignore[index]
    spec = spec_for(error)
    return spec.status, spec.title


def answered_status(error: BaseException) -> int:
    """The status this edge answers ``error`` with: what the audit record of a refused call says."""
    if isinstance(error, UnsupportedMedia):
        return 415
    return _status(error)[0] if isinstance(error, e.DomainError) else 500


async def _on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.DomainError)
    note_refusal(request.scope, exc)
    status, title = _status(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, e.Unauthenticated):
        headers["WWW-Authenticate"] = f'Keystone uri="{public_base_url(request)}/identity"'
    elif isinstance(exc, e.Unavailable | e.RateLimited):
        headers["Retry-After"] = str(exc.params.get("retry_after", 5))
    return openstack_error(status, title, localised_detail(exc, _language(request)), headers)


async def _on_unsupported_media(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UnsupportedMedia)
    wanted = ", ".join(exc.wanted)
    message = f"Content-Type {exc.media[:60]!r} is not supported here; send one of: {wanted}"
    headers = {"Accept-Patch": wanted} if exc.accept_patch else None
    return openstack_error(415, "Unsupported Media Type", message, headers)


def method_not_allowed(request: Request, allowed: str) -> Response:
    message = f"The method {request.method[:16]} is not allowed on this path (allowed: {allowed})."
    return openstack_error(405, _TITLES[405], message, {"Allow": allowed})


async def _on_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's 404 and 405 (before any handler runs), in this edge's form; a 405 names what is
    allowed, as Glance and Keystone do."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 405:
        return method_not_allowed(request, allowed_methods(request))
    return openstack_error(status, _TITLES.get(status, "Error"), "no such resource or method on this path")


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    return openstack_error(400, "Bad Request", "the request is malformed")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(e.DomainError, _on_domain_error)
    app.add_exception_handler(UnsupportedMedia, _on_unsupported_media)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
