"""The base URL clients reach this server at, for every link either edge answers (version documents, the
endpoint and service catalogs, ``Location``, download links, ``WWW-Authenticate``)."""

from __future__ import annotations

from starlette.requests import Request

from scp_images.http.deps import services


def public_base_url(request: Request) -> str:
    """The first configured public URL, else the request's own scheme, host and the server's root path
    (the top-level one: inside the OpenStack edge's mounts too); never with a trailing slash."""
    urls = services(request).limits.public_urls
    return urls[0].rstrip("/") if urls else str(request.base_url).rstrip("/")
