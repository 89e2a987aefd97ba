"""The OpenStack edge's two sub-applications, mounted at ``/identity`` and ``/image`` by the main app.
Each has its own error handlers (Glance's clients' error form) over the same services."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from scp_images.http.deps import Services
from scp_images.http.openstack import files, identity, images, members, projects
from scp_images.http.openstack.errors import install_error_handlers


def _sub_app(services: Services, *routers: object) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
    app.state.services = services
    for router in routers:
        app.include_router(router)  # type: ignore[arg-type]
    install_error_handlers(app)
    return app


def mount_openstack(app: FastAPI, services: Services) -> None:
    """``/identity`` and ``/image`` answer their bare paths too: keystoneauth asks for exactly the
    catalog URL (the one exception to "a trailing slash is another path")."""
    identity_app = _sub_app(services, identity.router, projects.router)
    image_app = _sub_app(services, images.router, files.router, members.router)

    @app.get("/identity", include_in_schema=False)
    def identity_versions(request: Request) -> Response:
        return identity.versions(request)

    @app.get("/image", include_in_schema=False)
    def image_versions(request: Request) -> Response:
        return images.versions_response(request)

    app.mount("/identity", identity_app)
    app.mount("/image", image_app)
