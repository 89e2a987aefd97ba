"""What route handlers receive: the guard and the services, put on ``app.state`` by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from scp_images.http.guard import Guard
from scp_images.services.images import ImageService
from scp_images.services.ingest import IngestService
from scp_images.services.members import MemberService


@dataclass(frozen=True, slots=True)
class Services:
    guard: Guard
    images: ImageService
    ingest: IngestService
    members: MemberService
    upload_heartbeat_seconds: float = 5.0


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]
