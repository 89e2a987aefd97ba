"""The application: the request pipeline (request id, metrics, domain errors, the hot reads' route
table) in front of the FastAPI routers and their error handlers."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from scp_images.domain.errors import DomainError
from scp_images.http.deps import Services
from scp_images.http.errors import envelope
from scp_images.http.metrics import HttpMetrics, note_refusal
from scp_images.http.openstack.app import mount_openstack
from scp_images.http.pipeline import HotRoute, Pipeline, RouteTable, in_thread
from scp_images.http.responses import domain_error_response, json_response
from scp_images.http.routes import (
    catalog,
    console,
    download_links,
    files,
    images,
    members,
    root,
    servers,
    sources,
)
from scp_images.http.routing import allowed_methods

log = logging.getLogger("scp_images.http")

_STATUS_TEXT = {
    400: ("Bad Request", "The request is malformed.", "요청 형식이 올바르지 않습니다."),
    404: ("Not Found", "No such resource or path.", "해당 리소스나 경로가 없습니다."),
    405: (
        "Method Not Allowed",
        "This method is not allowed on this path.",
        "이 경로에서 허용되지 않는 메서드입니다.",
    ),
    500: ("Internal Server Error", "An internal error occurred.", "내부 오류가 발생했습니다."),
}


def _state(request: Request) -> tuple[str, str]:
    state = request.scope.get("state", {})
    return state.get("language", "en-US"), state.get("request_id", "req-unknown")


def _plain_error(request: Request, status: int, code: str) -> Response:
    language, request_id = _state(request)
    title, en, ko = _STATUS_TEXT.get(status, _STATUS_TEXT[500] if status >= 500 else _STATUS_TEXT[400])
    detail = ko if language == "ko-KR" else en
    return json_response(envelope(status, code, title, detail, request_id), status)


async def _on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    language, request_id = _state(request)
    note_refusal(request.scope, exc)
    return domain_error_response(exc, language, request_id)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "virtualserver.NotFound", 405: "virtualserver.MethodNotAllowed"}.get(
        exc.status_code, "virtualserver.request.Invalid"
    )
    response = _plain_error(request, exc.status_code, code)
    if exc.status_code == 405:
        response.headers["Allow"] = allowed_methods(request)
    return response


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    return _plain_error(request, 400, "virtualserver.request.Invalid")


class ScpApplication(FastAPI):
    """FastAPI behind the request pipeline: the server calls the pipeline first, and the pipeline calls
    FastAPI (its entry, Starlette's middleware stack, the routers) only for what its table does not hold.
    Starlette's ``ServerErrorMiddleware`` is left out of the stack: the pipeline answers a crash with the
    SCP envelope and the request id."""

    pipeline: Pipeline

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        # FastAPI puts ServerErrorMiddleware outermost; the pipeline does its work (and a 500 from it
        # would have neither the envelope nor the request id).
        return stack.app if isinstance(stack, ServerErrorMiddleware) else stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self  # what Starlette's entry sets, for a hot route's Request too
        await self.pipeline(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's own entry: the pipeline's fallback."""
        await super().__call__(scope, receive, send)


def build_http_app(
    services: Services, *, registry: CollectorRegistry, lifespan: Any = None, **state: Any
) -> FastAPI:
    app = ScpApplication(
        title="scp-images",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
        redirect_slashes=False,  # a trailing slash is another path: 404 with the envelope, not a 307
    )
    hot_routes = _hot_reads(services)
    app.pipeline = Pipeline(app.framework, hot_routes, HttpMetrics(registry), _on_domain_error)
    app.state.services = services
    for key, value in state.items():
        setattr(app.state, key, value)
    if services.tokens is not None:
        # First: a mount is one prefix check for every other request, while the OpenStack edge's calls
        # would otherwise try every SCP route before reaching it.
        mount_openstack(app, services, hot_routes)
    app.include_router(root.router)
    app.include_router(images.router)
    app.include_router(files.router)
    app.include_router(members.router)
    app.include_router(servers.router)
    app.include_router(catalog.router)
    app.include_router(download_links.router)
    app.include_router(console.router)
    app.include_router(sources.router)
    # Domain errors are the pipeline's (the same handler); these two are raised by FastAPI's routing.
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.state.metrics_registry = registry
    return app


def _hot_reads(services: Services) -> RouteTable:
    """The SCP edge's hot reads: answered by the pipeline without FastAPI's route scan or dependency
    solving. Same handlers and error form as the routes in routes/images.py."""
    table = RouteTable()
    table.add_collection("/v1/images", HotRoute(partial(images.read_list, services), "/v1/images"))
    table.add_item("/v1/images/", HotRoute(partial(images.read_one, services), "/v1/images/{image_id}"))
    # The download: the route's own (sync) handler, on the thread pool as FastAPI runs it.
    download = HotRoute(in_thread(files.download_image), "/v2/images/{image_id}/file")
    table.add_item("/v2/images/", download, last="file")
    return table
