"""What a path allows: the ``Allow`` header of a 405, for the SCP API and the mounted OpenStack edges."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.types import Scope


def _routes(router: Any) -> Iterator[Any]:
    for route in router.routes:
        inner = getattr(route, "original_router", None)  # FastAPI wraps included routers
        yield from _routes(inner) if inner is not None else (route,)


def route_path(scope: Scope) -> str:
    """The path as the answering application's routes match it: below ``root_path`` (a mounted
    sub-application's mount point, or the server's root path), as Starlette's ``get_route_path`` computes
    it. The pipeline's table and the ``Allow`` of a 405 both match this."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path


def allowed_methods(request: Request) -> str:
    """Every method some route serves on this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    path = route_path(request.scope)
    for route in _routes(request.app.router):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))
