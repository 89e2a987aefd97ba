"""Composition root: the only place that picks concrete stores and wires services together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

from scp_images.config import ConfigError, Settings
from scp_images.http.application import build_http_app
from scp_images.http.deps import EdgeLimits, Services
from scp_images.http.guard import Guard
from scp_images.http.metrics import (
    DownloadMetrics,
    ImportMetrics,
    PrometheusDownloadObserver,
    PrometheusImportObserver,
    PrometheusScrubObserver,
    ReplayMetrics,
    ScrapeGauges,
    ScrubMetrics,
    goodbye,
)
from scp_images.http.transfers import TransferSlots
from scp_images.imports.sources import SourceConfig, SourceResolver
from scp_images.services.accounts import AccountService
from scp_images.services.audit import AuditTrail
from scp_images.services.auth import Authenticator, ReplayGuard
from scp_images.services.background import BackgroundThread, BackgroundWork
from scp_images.services.clock import Clock, system_clock
from scp_images.services.download_links import DownloadLinkService
from scp_images.services.downloads import Redirects
from scp_images.services.health import HealthService
from scp_images.services.images import ImageService
from scp_images.services.import_jobs import ImportRunner, RunnerTimings
from scp_images.services.ingest import IngestLimits, IngestService
from scp_images.services.members import MemberService
from scp_images.services.observer import DownloadObserver, ImportObserver, NoDownloadObserver, NoObserver
from scp_images.services.quotas import QuotaService
from scp_images.services.ratelimit import RateLimiter
from scp_images.services.recovery import Recovery
from scp_images.services.restore import RestoreService
from scp_images.services.scrub import MiB, NoScrubObserver, Scrubber, ScrubObserver, ScrubTimings, ScrubWorker
from scp_images.services.secrets import SecretCipher
from scp_images.services.sources import ImportSources, SourceGrants
from scp_images.services.tokens import TokenService
from scp_images.store.blob import BlobStore, PresignsReads, create_blob_store
from scp_images.store.sql.database import Database, create_db_engine, migrate

log = logging.getLogger("scp_images.app")


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
    scrubs: ScrubObserver = field(default_factory=NoScrubObserver)
    redirects: Redirects | None = None

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
    def quotas(self) -> QuotaService:
        settings = self.settings
        return QuotaService(self.db, settings.quota_defaults(), settings.quota_step_bytes, self.clock)

    @property
    def images(self) -> ImageService:
        return ImageService(
            self.db,
            self.blobs,
            self.import_sources,
            self.quotas,
            self.clock,
            on_job=lambda: self.on_job(),
            downloads=self.downloads,
            redirects=self.redirects,
        )

    @property
    def ingest(self) -> IngestService:
        limits = IngestLimits(self.settings.import_max_bytes, self.settings.max_virtual_size)
        return IngestService(self.db, self.blobs, limits, self.quotas, self.clock, self.observer)

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
    def audit(self) -> AuditTrail:
        settings = self.settings
        return AuditTrail(
            self.db, self.clock, settings.audit_retention_days, settings.audit_unauthenticated_per_second
        )

    @property
    def recovery(self) -> Recovery:
        return self.recovery_by(None)

    def recovery_by(self, worker_id: str | None) -> Recovery:
        """Recovery whose audit records name ``worker_id`` (the process's runner) as the actor."""
        return Recovery(
            self.db,
            self.blobs,
            stale_seconds=self.settings.import_stale_seconds,
            grace_seconds=self.settings.orphan_grace_seconds,
            upload_stale_seconds=self.settings.body_read_timeout_seconds + self.settings.import_stale_seconds,
            clock=self.clock,
            worker_id=worker_id,
        )

    @property
    def scrubber(self) -> Scrubber:
        return Scrubber(self.db, self.blobs, self.recovery, clock=self.clock, observer=self.scrubs)

    @property
    def restore(self) -> RestoreService:
        return RestoreService(self.db, self.blobs, self.clock)

    def scrub_worker(self, worker_id: str) -> ScrubWorker | None:
        """The continuous scrub, or None while ``scrub_rate`` is 0 (off)."""
        settings = self.settings
        if not settings.scrub_rate:
            return None
        timings = ScrubTimings(
            rate=settings.scrub_rate * MiB,
            cycle_seconds=settings.scrub_cycle_seconds,
            claim_seconds=settings.scrub_claim_seconds,
            retry_seconds=settings.scrub_retry_seconds,
        )
        return ScrubWorker(
            self.scrubber, self.db, timings, worker_id, clock=self.clock, skip_locked=self.db.is_postgres
        )

    def background(self) -> BackgroundWork:
        # An orphan is removable once it is older than the grace, so sweeping more often gains nothing.
        sweep_every = max(1.0, self.settings.orphan_grace_seconds)
        runner = self.runner()
        scrub = self.scrub_worker(runner.worker_id)
        return BackgroundWork(
            runner,
            self.recovery_by(runner.worker_id),
            sweep_every_seconds=sweep_every,
            audit=self.audit,
            scrub=scrub,
        )

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


_MAX_REDIRECT_SECONDS = 3600


def download_redirects(settings: Settings, blobs: BlobStore) -> Redirects | None:
    """Whether downloads answer 307 to the object store. Only an S3 blob store can; on the filesystem store
    SCP_IMAGES_DOWNLOAD_REDIRECT does nothing (a warning says so). Settings that cannot mean anything are
    refused with ConfigError, naming the setting."""
    public = settings.s3_public_endpoint_url
    if public is not None:
        _check_endpoint(public)
        if not isinstance(blobs, PresignsReads):
            raise ConfigError(
                "SCP_IMAGES_S3_PUBLIC_ENDPOINT_URL is set but the blob store is not S3 "
                f"({settings.resolved_blob_url()}); it is only used to presign S3 download redirects"
            )
    seconds = settings.download_redirect_seconds
    if not 1 <= seconds <= _MAX_REDIRECT_SECONDS:
        raise ConfigError(
            f"SCP_IMAGES_DOWNLOAD_REDIRECT_SECONDS must be 1 to {_MAX_REDIRECT_SECONDS}, not {seconds}"
        )
    if not settings.download_redirect:
        if public is not None:
            log.warning(
                "SCP_IMAGES_S3_PUBLIC_ENDPOINT_URL does nothing without SCP_IMAGES_DOWNLOAD_REDIRECT=1"
            )
        return None
    if not isinstance(blobs, PresignsReads):
        log.warning("SCP_IMAGES_DOWNLOAD_REDIRECT does nothing on the filesystem blob store (bytes stream)")
        return None
    return Redirects(blobs, seconds)


def _check_endpoint(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            f"SCP_IMAGES_S3_PUBLIC_ENDPOINT_URL must be an http(s)://host[:port] URL, not {url!r}"
        )


def build_components(
    settings: Settings, *, clock: Clock = system_clock, check_blobs: bool = False
) -> Components:
    """Connect to the configured stores, creating and migrating an empty database first; with
    ``check_blobs``, the blob store must answer before the database is touched (BlobStoreUnavailable).

    Raises SecretKeyError when the secret encryption keys are malformed or cannot read stored secrets, and
    ConfigError for settings that make no sense together."""
    secrets = SecretCipher.from_setting(settings.secret_keys())
    engine = create_db_engine(settings.resolved_database_url())
    try:
        blobs = create_blob_store(
            settings.resolved_blob_url(),
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_access_key_id=settings.s3_access_key_id,
            s3_secret_access_key=settings.s3_secret_access_key,
            s3_region=settings.s3_region,
            s3_public_endpoint_url=settings.s3_public_endpoint_url,
        )
    except ValueError as exc:  # a malformed blob URL, or an S3 endpoint botocore cannot use
        engine.dispose()
        raise ConfigError(f"{exc}: check SCP_IMAGES_BLOB_URL and SCP_IMAGES_S3_ENDPOINT_URL") from exc
    try:
        if check_blobs:
            blobs.check()
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    parts = Components(settings, Database(engine), blobs, clock, SourceResolver(source_config(settings)))
    parts.secrets = secrets
    try:
        parts.redirects = download_redirects(settings, blobs)
        parts.accounts.check_secrets()
    except BaseException:
        parts.close()
        raise
    return parts


def worker_metrics(host: str, port: int) -> tuple[Any, CollectorRegistry]:
    """``scp-images worker --metrics-port``: the HTTP server (``shutdown()`` ends it) of a registry that
    ``watch_worker`` fills. It listens before the worker opens anything (OSError on a busy port)."""
    registry = CollectorRegistry()
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server, registry


def watch_worker(parts: Components, registry: CollectorRegistry) -> None:
    """The worker's import and scrub figures, its queue depth and age (read from the database when
    scraped) and process figures, in ``registry``."""
    ProcessCollector(registry=registry)
    metrics = ImportMetrics(registry)
    parts.observer = PrometheusImportObserver(metrics)
    health = HealthService(parts.db, parts.blobs, clock=parts.clock)
    metrics.queue_depth.set_function(lambda: health.import_queue().depth)
    metrics.queue_age.set_function(lambda: health.import_queue().age_seconds)
    parts.scrubs = PrometheusScrubObserver(ScrubMetrics(registry))


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
    parts.scrubs = PrometheusScrubObserver(ScrubMetrics(registry))
    window = settings.signature_window_seconds
    replay = (
        ReplayGuard(
            parts.db, window, settings.replay_max_signatures, sweep_seconds=settings.replay_sweep_seconds
        )
        if settings.replay_protection
        else None
    )
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
        rate_limiter=RateLimiter(parts.db, settings.rate_limit) if settings.rate_limit else None,
    )
    images = parts.images
    services = Services(
        guard=guard,
        images=images,
        ingest=parts.ingest,
        members=MemberService(parts.db, parts.clock),
        source_grants=parts.source_grants,
        audit=parts.audit,
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
            goodbye()

    health = HealthService(parts.db, parts.blobs, clock=parts.clock)
    gauges = ScrapeGauges(
        import_metrics, health, ReplayMetrics(registry), replay, settings.replay_max_signatures
    )
    return build_http_app(
        services,
        registry=registry,
        lifespan=lifespan,
        scrape_gauges=gauges,
        version_table=table,
        components=parts,
        settings=settings,
        health=health,
    )
