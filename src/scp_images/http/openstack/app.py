"""The OpenStack edge's two sub-applications, mounted at ``/identity`` and ``/image`` by the main app.
Each has its own error handlers (Glance's clients' error form) over the same services."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import cast

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.errors import DomainError
from scp_images.http.deps import Services
from scp_images.http.openstack import (
    discovery,
    files,
    identity,
    images,
    members,
    metadefs,
    projects,
    tasks,
    users,
)
from scp_images.http.openstack.errors import install_error_handlers, method_not_allowed
from scp_images.http.pipeline import ErrorHandler, HotRoute, RouteTable, in_thread


def _sub_app(services: Services, *routers: object) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
    app.state.services = services
    for router in routers:
        app.include_router(router)  # type: ignore[arg-type]
    install_error_handlers(app)
    return app


# The bare paths are the main app's routes; they take every method so that a wrong one is answered in
# this edge's error form (405 with Allow), not the SCP API's.
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _bare(answer: Callable[[Request], Response]) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        return answer(request) if request.method == "GET" else method_not_allowed(request, "GET")

    return endpoint


def mount_openstack(app: FastAPI, services: Services, hot: RouteTable) -> None:
    """``/identity`` and ``/image`` answer their bare paths too: keystoneauth asks for exactly the
    catalog URL (the one exception to "a trailing slash is another path").

    The image list and show also go into the pipeline's table of hot reads, answering errors with the
    image sub-application's own handler (Glance's form)."""
    identity_app = _sub_app(services, identity.router, projects.router, users.router)
    image_app = _sub_app(
        services, metadefs.router, images.router, discovery.router, files.router, members.router,
        tasks.router,
    )

    app.add_api_route("/identity", _bare(identity.versions), methods=_METHODS, include_in_schema=False)
    app.add_api_route("/image", _bare(images.versions_response), methods=_METHODS, include_in_schema=False)
    app.mount("/identity", identity_app)
    app.mount("/image", image_app)
    on_error = cast(ErrorHandler, image_app.exception_handlers[DomainError])  # async: errors.py
    hot.add_collection(
        "/image/v2/images", HotRoute(partial(images.read_list, services), "/v2/images", on_error)
    )
    hot.add_item(
        "/image/v2/images/", HotRoute(partial(images.read_one, services), "/v2/images/{image_id}", on_error)
    )
    download = HotRoute(in_thread(files.download), "/v2/images/{image}/file", on_error)
    hot.add_item("/image/v2/images/", download, last="file")
