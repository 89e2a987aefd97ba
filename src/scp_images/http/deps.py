"""What route handlers receive: the guard and the services, put on ``app.state`` by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
from starlette.requests import Request

from scp_images.http.guard import Guard
from scp_images.services.download_links import DownloadLinkService
from scp_images.services.images import ImageService
from scp_images.services.ingest import IngestService
from scp_images.services.members import MemberService

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Services:
    guard: Guard
    images: ImageService
    ingest: IngestService
    members: MemberService
    links: DownloadLinkService
    upload_heartbeat_seconds: float = 5.0
    # SQLite answers in microseconds from a local file: calling it on the event loop beats a thread hop.
    # A networked database may hang, so its calls go to the thread pool and the loop stays responsive.
    inline_io: bool = False

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        if self.inline_io:
            return fn(*args)
        return await anyio.to_thread.run_sync(fn, *args)


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]
