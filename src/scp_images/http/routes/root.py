"""Unsigned endpoints: version discovery and health."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.versions import VersionTable
from scp_images.http.metrics import render
from scp_images.http.public_url import public_base_url
from scp_images.http.responses import json_response

router = APIRouter()


def versions_body(table: VersionTable, base_url: str) -> dict[str, object]:
    return {
        "versions": [
            {
                "id": f"v{entry.version}",
                "links": [{"href": f"{base_url}/v1", "rel": "self"}],
                "not_before": entry.not_before.isoformat() if entry.not_before else None,
                "status": entry.status.value,
            }
            for entry in table.entries
        ]
    }


@router.get("/")
async def list_versions(request: Request) -> Response:
    return json_response(versions_body(request.app.state.version_table, public_base_url(request)))


@router.get("/healthz")
def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz")
def readyz(request: Request) -> Response:
    readiness = request.app.state.health.readiness()
    body = {
        "status": "ok" if readiness.ready else "unavailable",
        "database": readiness.database,
        "blob_store": readiness.blob_store,
        "schema": readiness.schema,
    }
    return json_response(body, 200 if readiness.ready else 503)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    state = request.app.state
    state.scrape_gauges.refresh()
    body, content_type = render(state.metrics_registry)
    return Response(body, media_type=content_type)
