"""What route handlers receive: the guard and the services, put on ``app.state`` by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
from starlette.requests import Request

from scp_images.http.guard import Guard
from scp_images.http.transfer_slots import TransferSlots
from scp_images.services.access.sources import SourceGrants
from scp_images.services.access.tokens import TokenService
from scp_images.services.audit import AuditTrail
from scp_images.services.data.download_links import DownloadLinkService
from scp_images.services.data.ingest import IngestService
from scp_images.services.images import ImageService
from scp_images.services.members import MemberService
from scp_images.services.metadefs import MetadefService
from scp_images.services.tasks import TaskService

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """What the HTTP edge needs from the settings; routes read these, never the settings themselves."""

    max_body_bytes: int = 1 << 20
    body_read_timeout_seconds: float = 60.0
    upload_heartbeat_seconds: float = 2.0
    public_urls: tuple[str, ...] = ()
    region: str = "kr-west1"


@dataclass(frozen=True, slots=True)
class StoreDescription:
    """The one blob store, as the OpenStack edge names it (``/v2/info/stores``, an image's ``stores``):
    ``local`` for the filesystem store, ``s3`` for S3; ``kind`` is glance_store's name for its type."""

    id: str = "local"
    kind: str = "file"
    description: str = "Image data on this service's filesystem store"


def store_description(blob_url: str) -> StoreDescription:
    """What a blob store URL (``file:///…``, ``s3://bucket/…``) is called on the OpenStack edge."""
    if blob_url.startswith("s3://"):
        return StoreDescription("s3", "s3", "Image data in this service's S3 bucket")
    return StoreDescription()


@dataclass(frozen=True, slots=True)
class Services:
    guard: Guard
    images: ImageService
    tasks: TaskService
    ingest: IngestService
    members: MemberService
    metadefs: MetadefService
    links: DownloadLinkService
    transfers: TransferSlots
    source_grants: SourceGrants
    audit: AuditTrail
    limits: EdgeLimits = EdgeLimits()
    store: StoreDescription = StoreDescription()
    tokens: TokenService | None = None  # the OpenStack edge's Keystone tokens
    # SQLite answers in microseconds from a local file: calling it on the event loop beats a thread hop.
    # A networked database may hang, so its calls go to the thread pool and the loop stays responsive.
    inline_io: bool = False

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        if self.inline_io:
            return fn(*args)
        return await anyio.to_thread.run_sync(fn, *args)


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]
