"""What a failed command prints: what happened and the next step, in the run's language.

The server's errors arrive already in the caller's language (the request's Accept-Language); this module
adds what only the client can see: why a connection failed (nothing listening, https to a plain-http
server or the reverse, an unknown host, an endpoint that carries a path the API adds itself) and the
SDK's own failures (a killed image, a wait that timed out, a corrupt download, missing settings).
"""

from __future__ import annotations

import socket
import ssl

import httpx

from scp_images.cli._messages import t
from scp_images.client import (
    ApiError,
    CredentialsError,
    ImageKilled,
    IntegrityError,
    ScpImagesError,
    TransportError,
    WaitTimeout,
)

EXIT_API_ERROR = 1
EXIT_USAGE = 2

# Paths the SDK puts after the endpoint itself: an endpoint ending in one is a copy-paste of a request URL.
_API_PATHS = ("/v1/images", "/v2/images", "/v1", "/v2", "/image/v2", "/image")
_PROBE_SECONDS = 3.0


def explain(exc: BaseException, endpoint: str | None = None) -> tuple[str, int]:
    """The one or two lines to print for ``exc``, and the exit code."""
    if isinstance(exc, CredentialsError):
        return _credentials(exc), EXIT_USAGE
    if isinstance(exc, ApiError):
        return _api(exc, exc.endpoint or endpoint), EXIT_API_ERROR
    if isinstance(exc, TransportError):
        return _transport(exc, exc.endpoint or endpoint), EXIT_API_ERROR
    if isinstance(exc, ImageKilled):
        reason = exc.reason or t("no_reason", image_id=exc.image_id)
        return t("killed", image_id=exc.image_id, reason=reason), EXIT_API_ERROR
    if isinstance(exc, WaitTimeout):
        params = {"image_id": exc.image_id, "status": exc.status, "wanted": exc.wanted}
        return t("wait_timeout", timeout=f"{exc.timeout:g}", **params), EXIT_API_ERROR
    if isinstance(exc, IntegrityError):
        return t("integrity", detail=str(exc)), EXIT_API_ERROR
    assert isinstance(exc, ScpImagesError)
    return str(exc), EXIT_API_ERROR


def _credentials(exc: CredentialsError) -> str:
    if exc.path is not None:
        return t("unreadable_settings", path=exc.path, detail=exc.detail)
    if exc.missing:
        return t("missing_settings", what="; ".join(t(f"setting_{name}") for name in exc.missing))
    return str(exc)


def _api(exc: ApiError, endpoint: str | None) -> str:
    line = f"{exc.status} {exc.code}: {exc.detail}"
    if exc.request_id:
        line += f" ({t('request_id', request_id=exc.request_id)})"
    if endpoint and exc.status == 400 and "plain HTTP request was sent to HTTPS port" in exc.detail:
        return _with_scheme("plain_to_tls", endpoint, "https")  # nginx's answer to http on its TLS port
    if exc.status == 404 and exc.code in ("virtualserver.NotFound", "http.404") and endpoint:
        # No route at all (not a missing image): the endpoint is not the server's base URL.
        advice = _endpoint_path(endpoint) or t("not_found_path", endpoint=endpoint)
        return f"{line}\n{advice}"
    return line


def _endpoint_path(endpoint: str) -> str | None:
    url = httpx.URL(endpoint)
    path = url.path.rstrip("/")
    for suffix in _API_PATHS:
        if path.lower().endswith(suffix):
            fixed = str(url.copy_with(path=path[: -len(suffix)] or "/")).rstrip("/")
            return t("endpoint_path", endpoint=endpoint, path=suffix, fixed=fixed)
    return None


def _causes(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _transport(exc: TransportError, endpoint: str | None) -> str:
    causes = _causes(exc)
    if endpoint is None:
        return str(exc)
    url = httpx.URL(endpoint)
    detail = str(causes[-1]) or type(causes[-1]).__name__
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return t("conn_refused", endpoint=endpoint)
    if any(isinstance(c, socket.gaierror) for c in causes):
        return t("unknown_host", endpoint=endpoint, host=url.host)
    if any(isinstance(c, ssl.SSLError) for c in causes):
        wrong_version = any("WRONG_VERSION_NUMBER" in str(c) or "record layer" in str(c) for c in causes)
        if url.scheme == "https" and wrong_version:
            return _with_scheme("tls_to_plain", endpoint, "http")
        return t("tls_failed", endpoint=endpoint, detail=detail)
    if any(isinstance(c, httpx.TimeoutException) for c in causes):
        return t("timed_out", endpoint=endpoint)
    broken = (httpx.RemoteProtocolError, httpx.ReadError, ConnectionResetError)
    if url.scheme == "http" and any(isinstance(c, broken) for c in causes) and _speaks_tls(url):
        return _with_scheme("plain_to_tls", endpoint, "https")
    return t("transport", endpoint=endpoint, detail=detail)


def _with_scheme(message_id: str, endpoint: str, scheme: str) -> str:
    fixed = str(httpx.URL(endpoint).copy_with(scheme=scheme)).rstrip("/")
    return t(message_id, endpoint=endpoint, fixed=fixed)


def _speaks_tls(url: httpx.URL) -> bool:
    """Whether the server at the URL's host and port completes a TLS handshake (certificate unchecked:
    only the scheme is in question here, and nothing is sent)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    port = url.port or 80
    try:
        with (
            socket.create_connection((url.host, port), timeout=_PROBE_SECONDS) as raw,
            context.wrap_socket(raw, server_hostname=url.host or None),
        ):
            return True
    except (OSError, ValueError):
        return False
