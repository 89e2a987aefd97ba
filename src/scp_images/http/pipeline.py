"""The one outermost ASGI layer every request passes: request id and caller language, the hot reads'
route table, domain errors to the SCP envelope, the 500 fallback with the request id, metrics and the
access log. What the table does not hold goes to the FastAPI application unchanged.

It replaces three nested layers (request context, metrics, Starlette's ``ServerErrorMiddleware``): each
cost a closure and a ``send`` wrapper per request, and the hot reads also skipped FastAPI's route scan and
dependency solving (docs/decisions.md, "One request pipeline")."""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scp_images.domain.errors import DomainError
from scp_images.http.errors import envelope
from scp_images.http.metrics import HttpMetrics
from scp_images.http.routing import route_path
from scp_images.http.state import HEADERS_KEY, scan_headers
from scp_images.logs import CallSite

REQUEST_ID_HEADER = b"x-request-id"
# OpenStack's clients read the request id from their own header (openstacksdk puts it on its exceptions),
# so the OpenStack edge's answers carry it under that name too.
OPENSTACK_REQUEST_ID_HEADER = b"x-openstack-request-id"
_OPENSTACK_PREFIXES = ("/image", "/identity")
access_log = logging.getLogger("scp_images.access")
log = logging.getLogger("scp_images.http")

_INTERNAL = {
    "en-US": "An internal error occurred.",
    "ko-KR": "내부 오류가 발생했습니다.",
}

# A hot handler: the request and the path's one parameter (the image id, or "" for a collection).
Handler = Callable[[Request, str], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    handler: Handler
    template: str  # the metrics' route label: the template FastAPI's route has
    on_error: ErrorHandler | None = None  # None: the SCP envelope


@dataclass(slots=True)
class RouteTable:
    """GET routes resolved by dict lookups, built once at start: a collection path (``/v1/images``), one
    path segment below a prefix (``/v1/images/{id}``) and one segment followed by a fixed last one
    (``/v2/images/{id}/file``), each segment matching what Starlette's ``[^/]+`` matches."""

    exact: dict[str, HotRoute] = field(default_factory=dict)
    one_segment: dict[str, HotRoute] = field(default_factory=dict)
    before_last: dict[str, dict[str, HotRoute]] = field(default_factory=dict)  # last segment -> prefix

    def add_collection(self, path: str, route: HotRoute) -> None:
        self.exact[path] = route

    def add_item(self, prefix: str, route: HotRoute, last: str | None = None) -> None:
        assert prefix.endswith("/")
        if last is None:
            self.one_segment[prefix] = route
        else:
            self.before_last.setdefault(last, {})[prefix] = route

    def resolve(self, method: str, path: str) -> tuple[HotRoute, str] | None:
        if method != "GET":
            return None
        route = self.exact.get(path)
        if route is not None:
            return route, ""
        head, _, segment = path.rpartition("/")
        if not segment:
            return None
        route = self.one_segment.get(head + "/")
        if route is not None:
            return route, segment
        routes = self.before_last.get(segment)
        if routes is None:
            return None
        prefix, _, item = head.rpartition("/")
        route = routes.get(prefix + "/") if item else None
        return (route, item) if route is not None else None


def in_thread(endpoint: Callable[[Request, str], Response]) -> Handler:
    """A sync route handler as a hot one: run on the thread pool, as FastAPI runs a ``def`` endpoint."""

    async def handler(request: Request, parameter: str) -> Response:
        return await run_in_threadpool(endpoint, request, parameter)

    return handler


@functools.lru_cache(maxsize=256)
def pick_language(accept_language: str | None) -> str:
    """ko-KR when the caller prefers Korean, else en-US (the documented default). Cached: clients send
    the same few values over and over."""
    if not accept_language:
        return "en-US"
    best, best_q = "en-US", -1.0
    for part in accept_language.split(",")[:16]:
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower()
        candidate = "ko-KR" if lang.startswith("ko") else "en-US" if lang.startswith("en") else None
        if candidate and q > best_q:
            best, best_q = candidate, q
    return best


class Pipeline:
    def __init__(
        self,
        fallback: ASGIApp,
        routes: RouteTable,
        metrics: HttpMetrics,
        on_domain_error: ErrorHandler,
    ) -> None:
        self.fallback = fallback
        self.routes = routes
        self._metrics = metrics
        self._on_domain_error = on_domain_error

    def without_hot_routes(self) -> Pipeline:
        """The same pipeline with every request sent to the fallback (tests compare the two)."""
        return Pipeline(self.fallback, RouteTable(), self._metrics, self._on_domain_error)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        started = time.perf_counter()
        state = _begin(scope)
        reply = _Reply(send, state["request_id"], scope["path"].startswith(_OPENSTACK_PREFIXES))
        hot = self.routes.resolve(scope["method"], route_path(scope))
        try:
            await self._answer(hot, scope, receive, reply)
        except Exception:
            # The 500 still carries the request id (header and body).
            log.exception("unhandled error", extra={"request_id": state["request_id"]})
            if reply.started:
                raise
            await _send_internal_error(reply, state)
        finally:
            template = hot[0].template if hot else getattr(scope.get("route"), "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            self._metrics.observe(scope["method"], template, reply.status, state, elapsed)
            if _ACCESS.enabled():
                _log_access(scope, state, reply.status, elapsed)

    async def _answer(
        self, hot: tuple[HotRoute, str] | None, scope: Scope, receive: Receive, reply: _Reply
    ) -> None:
        on_error = self._on_domain_error
        try:
            if hot is None:
                await self.fallback(scope, receive, reply)
                return
            route, parameter = hot
            on_error = route.on_error or on_error
            response = await route.handler(Request(scope, receive), parameter)
        except DomainError as error:
            # The SCP edge's routes raise domain errors up to here; the OpenStack edge's sub-applications
            # answer theirs in Glance's form themselves, and its hot routes name that handler.
            if reply.started:
                raise
            response = await on_error(Request(scope, receive), error)
        await response(scope, receive, reply)


def _begin(scope: Scope) -> dict[str, Any]:
    """The request's state: its id, the caller's language and the headers the path reads (one pass)."""
    found = scan_headers(scope["headers"])
    languages = found.get(b"accept-language")
    state: dict[str, Any] = scope.setdefault("state", {})
    state["request_id"] = "req-" + os.urandom(16).hex()
    state["language"] = pick_language(languages[0]) if languages else "en-US"
    state[HEADERS_KEY] = found
    return state


class _Reply:
    """``send`` with the request id headers added to the response, noting its status."""

    __slots__ = ("_id_headers", "_send", "started", "status")

    def __init__(self, send: Send, request_id: str, openstack: bool) -> None:
        encoded = request_id.encode()
        self._send = send
        self._id_headers = [(REQUEST_ID_HEADER, encoded)]
        if openstack:
            self._id_headers.append((OPENSTACK_REQUEST_ID_HEADER, encoded))
        self.started = False
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            message["headers"] = [*message.get("headers", ()), *self._id_headers]
        await self._send(message)


async def _send_internal_error(send: Send, state: dict[str, Any]) -> None:
    detail = _INTERNAL[state["language"]]
    body = json.dumps(
        envelope(500, "virtualserver.InternalError", "Internal Server Error", detail, state["request_id"])
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_ACCESS = CallSite(access_log, logging.INFO, "%s %s %d")


def _log_access(scope: Scope, state: dict[str, Any], status: int, elapsed: float) -> None:
    method, path = scope["method"], scope["path"]
    _ACCESS.emit(
        (method, path, status),
        {
            "request_id": state["request_id"],
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
            "api_version": state.get("api_version"),
            "access_key": state.get("access_key"),
        },
    )
