"""Composition root: the only place that picks concrete stores and wires services together."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from scp_images.config import Settings
from scp_images.http.application import build_http_app
from scp_images.http.deps import EdgeLimits, Services
from scp_images.http.guard import Guard
from scp_images.http.metrics import (
    DownloadMetrics,
    ImportMetrics,
    PrometheusDownloadObserver,
    PrometheusImportObserver,
)
from scp_images.http.transfers import TransferSlots
from scp_images.imports.sources import SourceConfig, SourceResolver
from scp_images.services.accounts import AccountService
from scp_images.services.auth import Authenticator, ReplayGuard
from scp_images.services.background import BackgroundThread, BackgroundWork
from scp_images.services.clock import Clock, system_clock
from scp_images.services.download_links import DownloadLinkService
from scp_images.services.health import HealthService
from scp_images.services.images import ImageService
from scp_images.services.import_jobs import ImportRunner, RunnerTimings
from scp_images.services.ingest import IngestLimits, IngestService
from scp_images.services.members import MemberService
from scp_images.services.observer import DownloadObserver, ImportObserver, NoDownloadObserver, NoObserver
from scp_images.services.ratelimit import RateLimiter
from scp_images.services.recovery import Recovery
from scp_images.services.secrets import SecretCipher
from scp_images.services.sources import ImportSources, SourceGrants
from scp_images.services.tokens import TokenService
from scp_images.store.blob import BlobStore, create_blob_store
from scp_images.store.sql.database import Database, create_db_engine, migrate


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass
class Components:
    """Everything a process (server, worker, operator CLI) needs, built from one Settings."""

    settings: Settings
    db: Database
    blobs: BlobStore
    clock: Clock
    sources: SourceResolver
    on_job: Callable[[], None] = field(default=lambda: None)
    observer: ImportObserver = field(default_factory=NoObserver)
    downloads: DownloadObserver = field(default_factory=NoDownloadObserver)
    secrets: SecretCipher = field(default_factory=lambda: SecretCipher(()))

    @property
    def accounts(self) -> AccountService:
        return AccountService(self.db, self.clock, self.secrets)

    @property
    def protected_buckets(self) -> frozenset[str]:
        """The blob store's bucket: never an import source, never grantable (any S3-backed store)."""
        bucket = getattr(self.blobs, "bucket", None)
        return frozenset({bucket}) if isinstance(bucket, str) and bucket else frozenset()

    @property
    def import_sources(self) -> ImportSources:
        """The resolver, with every read made on behalf of an account and under its grants."""
        return ImportSources(self.db, self.sources, self.protected_buckets)

    @property
    def source_grants(self) -> SourceGrants:
        return SourceGrants(self.db, self.protected_buckets, self.clock)

    @property
    def images(self) -> ImageService:
        return ImageService(
            self.db,
            self.blobs,
            self.import_sources,
            self.clock,
            on_job=lambda: self.on_job(),
            downloads=self.downloads,
        )

    @property
    def ingest(self) -> IngestService:
        limits = IngestLimits(self.settings.import_max_bytes, self.settings.max_virtual_size)
        return IngestService(self.db, self.blobs, limits, self.clock, self.observer)

    def runner(self, worker_id: str | None = None) -> ImportRunner:
        timings = RunnerTimings(
            heartbeat_seconds=self.settings.import_heartbeat_seconds,
            stale_seconds=self.settings.import_stale_seconds,
        )
        return ImportRunner(
            self.db,
            self.ingest,
            self.import_sources,
            timings=timings,
            clock=self.clock,
            worker_id=worker_id,
            discard=self.recovery.discard,
        )

    @property
    def recovery(self) -> Recovery:
        return Recovery(
            self.db,
            self.blobs,
            stale_seconds=self.settings.import_stale_seconds,
            grace_seconds=self.settings.orphan_grace_seconds,
            upload_stale_seconds=self.settings.body_read_timeout_seconds + self.settings.import_stale_seconds,
            clock=self.clock,
        )

    def background(self) -> BackgroundWork:
        # An orphan is removable once it is older than the grace, so sweeping more often gains nothing.
        sweep_every = max(1.0, self.settings.orphan_grace_seconds)
        return BackgroundWork(self.runner(), self.recovery, sweep_every_seconds=sweep_every)

    def close(self) -> None:
        self.db.dispose()


def source_config(settings: Settings) -> SourceConfig:
    return SourceConfig(
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_access_key_id=settings.s3_access_key_id,
        s3_secret_access_key=settings.s3_secret_access_key,
        s3_region=settings.s3_region,
        allowed_hosts=tuple(h.lower() for h in settings.import_allowed_hosts),
        max_bytes=settings.import_max_bytes,
    )


def build_components(settings: Settings, *, clock: Clock = system_clock) -> Components:
    """Connect to the configured stores, creating and migrating an empty database first.

    Raises SecretKeyError when the secret encryption keys are malformed or cannot read stored secrets."""
    secrets = SecretCipher.from_setting(settings.secret_keys())
    engine = create_db_engine(settings.resolved_database_url())
    migrate(engine)
    blobs = create_blob_store(
        settings.resolved_blob_url(),
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_access_key_id=settings.s3_access_key_id,
        s3_secret_access_key=settings.s3_secret_access_key,
        s3_region=settings.s3_region,
    )
    parts = Components(settings, Database(engine), blobs, clock, SourceResolver(source_config(settings)))
    parts.secrets = secrets
    try:
        parts.accounts.check_secrets()
    except BaseException:
        parts.close()
        raise
    return parts


def create_app(
    settings: Settings,
    *,
    components: Components | None = None,
    today: Callable[[], date] = _today,
    now_ms: Callable[[], float] | None = None,
) -> FastAPI:
    parts = components or build_components(settings)
    registry = CollectorRegistry()
    import_metrics = ImportMetrics(registry)
    parts.observer = PrometheusImportObserver(import_metrics)
    parts.downloads = PrometheusDownloadObserver(DownloadMetrics(registry))
    window = settings.signature_window_seconds
    replay = ReplayGuard(window, settings.replay_max_signatures) if settings.replay_protection else None
    authenticator = Authenticator(
        parts.db,
        window_seconds=window,
        now_ms=now_ms,
        replay_guard=replay,
        key_cache_seconds=settings.key_cache_seconds,
        secrets=parts.secrets,
    )
    table = settings.version_table()
    guard = Guard(
        authenticator,
        table,
        public_urls=settings.public_urls,
        strict_sunset=settings.strict_sunset,
        today=today,
        rate_limiter=RateLimiter(settings.rate_limit) if settings.rate_limit else None,
    )
    images = parts.images
    services = Services(
        guard=guard,
        images=images,
        ingest=parts.ingest,
        members=MemberService(parts.db, parts.clock),
        source_grants=parts.source_grants,
        links=DownloadLinkService(parts.db, images, parts.clock, secrets=parts.secrets),
        transfers=TransferSlots(settings.max_transfers),
        limits=EdgeLimits(
            max_body_bytes=settings.max_body_bytes,
            body_read_timeout_seconds=settings.body_read_timeout_seconds,
            upload_heartbeat_seconds=settings.import_heartbeat_seconds,
            public_urls=tuple(settings.public_urls),
            region=settings.region,
        ),
        inline_io=not parts.db.is_postgres,
        tokens=TokenService(
            authenticator,
            ttl_seconds=settings.token_ttl_seconds,
            server_secret=settings.token_secret.get_secret_value() if settings.token_secret else "",
        ),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        thread = None
        if settings.run_import_jobs:
            thread = BackgroundThread(parts.background())
            parts.on_job = thread.work.runner.wake.set
            thread.start()
        try:
            yield
        finally:
            if thread is not None:
                thread.stop()

    return build_http_app(
        services,
        registry=registry,
        lifespan=lifespan,
        import_metrics=import_metrics,
        version_table=table,
        components=parts,
        settings=settings,
        health=HealthService(parts.db, parts.blobs),
    )
