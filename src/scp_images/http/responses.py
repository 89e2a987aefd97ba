"""Fast JSON responses (orjson) and the error envelope as a response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.responses import Response

from scp_images.domain.errors import DomainError, RateLimited, Unavailable
from scp_images.http.errors import error_body

# A naive datetime (the store's UTC) is written as RFC 3339 in whole seconds with a Z, as
# schemas.rfc3339 writes it: "2026-01-02T03:04:05Z".
JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS


_JSON_TYPE = (b"content-type", b"application/json")


class JSONResponse(Response):
    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        plain = not headers and media_type is None and background is None
        if not plain or status_code < 200 or status_code in (204, 304):
            super().__init__(content, status_code, headers, media_type, background)
            return
        # The common answer (a status with a body, no extra headers) built directly: the same two
        # headers, in the order Starlette's init_headers writes them.
        self.status_code = status_code
        self.background = None
        self.body = body = orjson.dumps(content, option=JSON_OPTIONS)
        self.raw_headers = [(b"content-length", str(len(body)).encode()), _JSON_TYPE]

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=JSON_OPTIONS)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def empty_response(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, headers=headers)


def domain_error_response(error: DomainError, language: str, request_id: str) -> Response:
    status, body = error_body(error, language, request_id)
    headers = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.params.get("retry_after", 1))
    elif isinstance(error, Unavailable):
        headers["Retry-After"] = str(error.params.get("retry_after", 5))
    return json_response(body, status, headers)
