"""``/console``: the web console's static files, with a strict Content-Security-Policy.

The console is plain files calling the public API from the browser; the server only hands them out. Only
files that exist under the package's static folder with a known type are served (looked up in a table
made from the folder, so no request path ever reaches the file system).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from scp_images.console import STATIC_DIR
from scp_images.domain.errors import NotFound

router = APIRouter()

# No inline script or style anywhere; the API is same-origin; nothing may frame the page; forms never
# submit by themselves (a failed script must not send the secret key in a URL).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cache-Control": "no-cache",
}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


@cache
def _files(root: Path = STATIC_DIR) -> dict[str, tuple[Path, str]]:
    """URL path under /console/ -> (file, content type), for every servable file of the package."""
    table = {}
    for path in sorted(root.rglob("*")):
        media_type = _TYPES.get(path.suffix)
        if path.is_file() and media_type is not None:
            table[path.relative_to(root).as_posix()] = (path, media_type)
    return table


def _serve(name: str) -> Response:
    found = _files().get(name)
    if found is None:
        raise NotFound()
    path, media_type = found
    return FileResponse(path, media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/console", include_in_schema=False)
def console_page() -> Response:
    return _serve("index.html")


def capabilities(settings: object) -> dict[str, bool]:
    """What the console may offer on this server, from its settings (no names or addresses of them):
    ``object_storage`` when S3 import sources are configured (endpoint, key id and secret, as the S3
    source needs them), ``url_imports`` when any URL import can work (S3, or allowlisted hosts)."""
    needed = ("s3_endpoint_url", "s3_access_key_id", "s3_secret_access_key")
    object_storage = all(getattr(settings, name, None) for name in needed)
    allowed_hosts = bool(getattr(settings, "import_allowed_hosts", None))
    return {"object_storage": object_storage, "url_imports": object_storage or allowed_hosts}


@router.get("/console/config.json", include_in_schema=False)
def console_config(request: Request) -> Response:
    """Unauthenticated (the sign-in page reads it too): two booleans that say which create options work."""
    body = capabilities(getattr(request.app.state, "settings", None))
    return JSONResponse(body, headers=SECURITY_HEADERS)


@router.get("/console/{name:path}", include_in_schema=False)
def console_file(request: Request, name: str) -> Response:
    return _serve(name or "index.html")
