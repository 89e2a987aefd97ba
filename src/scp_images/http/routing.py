"""What a path allows: the ``Allow`` header of a 405, for the SCP API and the mounted OpenStack edges."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.requests import Request


def _routes(router: Any) -> Iterator[Any]:
    for route in router.routes:
        inner = getattr(route, "original_router", None)  # FastAPI wraps included routers
        yield from _routes(inner) if inner is not None else (route,)


def _route_path(request: Request) -> str:
    """The path as the answering application's routes see it: a mounted sub-application's routes match
    the path below its mount point (``root_path``)."""
    path: str = request.scope["path"]
    root: str = request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path


def allowed_methods(request: Request) -> str:
    """Every method some route serves on this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    path = _route_path(request)
    for route in _routes(request.app.router):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))
