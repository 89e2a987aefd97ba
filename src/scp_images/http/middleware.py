"""Pure ASGI middleware: a request id and the caller's language for every request, and the
``X-Request-Id`` header on every response (errors included)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scp_images.http.errors import envelope

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


async def _send_internal_error(send: Send, state: dict[str, Any]) -> None:
    detail = _INTERNAL[state["language"]]
    body = json.dumps(
        envelope(500, "virtualserver.InternalError", "Internal Server Error", detail, state["request_id"])
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _log_access(scope: Scope, state: dict[str, Any], status: int, elapsed: float) -> None:
    access_log.info(
        "%s %s %d",
        scope["method"],
        scope["path"],
        status,
        extra={
            "request_id": state["request_id"],
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
            "api_version": state.get("api_version"),
            "access_key": state.get("access_key"),
        },
    )


def pick_language(accept_language: str | None) -> str:
    """ko-KR when the caller prefers Korean, else en-US (the documented default)."""
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


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4().hex}"
        accept_language = None
        for name, value in scope["headers"]:
            if name == b"accept-language":
                accept_language = value.decode("latin-1")
                break
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["language"] = pick_language(accept_language)
        encoded_id = request_id.encode()
        id_headers = [(REQUEST_ID_HEADER, encoded_id)]
        if scope["path"].startswith(_OPENSTACK_PREFIXES):
            id_headers.append((OPENSTACK_REQUEST_ID_HEADER, encoded_id))
        started = time.perf_counter()
        status = [500]
        started_response = [False]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                started_response[0] = True
                status[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *id_headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Inside this middleware, so the 500 still carries the request id (header and body).
            log.exception("unhandled error", extra={"request_id": request_id})
            if status[0] != 500 or started_response[0]:
                raise
            await _send_internal_error(send_with_id, state)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                _log_access(scope, state, status[0], time.perf_counter() - started)
