"""Composition root: the only place that picks concrete stores and wires services together."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

from scp_images.config import ConfigError, Settings
from scp_images.conversion.host import ConversionHost
from scp_images.http.application import build_http_app
from scp_images.http.deps import EdgeLimits, Services, store_description
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
from scp_images.http.transfer_slots import TransferSlots
from scp_images.imports.sources import SourceConfig, SourceResolver
from scp_images.services.access.accounts import AccountService
from scp_images.services.access.auth import Authenticator, ReplayGuard
from scp_images.services.access.ratelimit import RateLimiter
from scp_images.services.access.secrets import SecretCipher
from scp_images.services.access.server_secrets import ServerSecrets
from scp_images.services.access.sources import ImportSources, SourceGrants
from scp_images.services.access.tokens import TokenService
from scp_images.services.audit import AuditTrail
from scp_images.services.clock import Clock, system_clock
from scp_images.services.data.convert import ConversionService, ConversionSettings
from scp_images.services.data.download_links import DownloadLinkService
from scp_images.services.data.downloads import Redirects
from scp_images.services.data.ingest import IngestLimits, IngestService
from scp_images.services.data.restore import RestoreService
from scp_images.services.health import HealthService
from scp_images.services.images import ImageService
from scp_images.services.members import MemberService
from scp_images.services.metadefs import MetadefService
from scp_images.services.observer import DownloadObserver, ImportObserver, NoDownloadObserver, NoObserver
from scp_images.services.quotas import QuotaService
from scp_images.services.tasks import TaskService
from scp_images.services.upkeep.background import BackgroundThread, BackgroundWork
from scp_images.services.upkeep.import_jobs import ImportRunner, RunnerTimings
from scp_images.services.upkeep.recovery import Recovery
from scp_images.services.upkeep.scrub import (
    MiB,
    NoScrubObserver,
    Scrubber,
    ScrubObserver,
    ScrubTimings,
    ScrubWorker,
)
from scp_images.store.blob import BlobStore, PresignsReads, create_blob_store
from scp_images.store.sql.database import Database, create_db_engine, migrate

log = logging.getLogger("scp_images.app")


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Observers:
    """Where the services report imports, downloads and scrub findings: a process's Prometheus figures,
    or nowhere (the operator CLI, most tests)."""

    imports: ImportObserver = field(default_factory=NoObserver)
    downloads: DownloadObserver = field(default_factory=NoDownloadObserver)
    scrubs: ScrubObserver = field(default_factory=NoScrubObserver)


@dataclass(frozen=True)
class ProcessMetrics:
    """The Prometheus registry a process exports, its import figures (whose queue gauges the process sets)
    and the observers through which the services fill it."""

    registry: CollectorRegistry
    imports: ImportMetrics
    observers: Observers


def server_metrics() -> ProcessMetrics:
    """The server's figures: imports, downloads and the scrub (``create_app`` adds the replay guard's)."""
    registry = CollectorRegistry()
    imports = ImportMetrics(registry)
    observers = Observers(
        PrometheusImportObserver(imports),
        PrometheusDownloadObserver(DownloadMetrics(registry)),
        PrometheusScrubObserver(ScrubMetrics(registry)),
    )
    return ProcessMetrics(registry, imports, observers)


def worker_metrics(host: str, port: int) -> tuple[Any, ProcessMetrics]:
    """``scp-images worker --metrics-port``: the HTTP server (``shutdown()`` ends it) of the worker's
    figures: process, imports and the scrub (``watch_worker`` adds the queue's). It listens before the
    worker opens anything (OSError on a busy port)."""
    registry = CollectorRegistry()
    server, _thread = start_http_server(port, addr=host, registry=registry)
    ProcessCollector(registry=registry)
    imports = ImportMetrics(registry)
    observers = Observers(
        imports=PrometheusImportObserver(imports), scrubs=PrometheusScrubObserver(ScrubMetrics(registry))
    )
    return server, ProcessMetrics(registry, imports, observers)


@dataclass(frozen=True)
class Components:
    """Everything a process (server, worker, operator CLI) needs, each service built once from one
    Settings by ``build_components`` and never replaced: what differs between processes is a parameter
    of ``build_components``."""

    settings: Settings
    db: Database
    blobs: BlobStore
    clock: Clock
    sources: SourceResolver
    secrets: SecretCipher
    metrics: ProcessMetrics | None
    redirects: Redirects | None
    # The blob store's bucket: never an import source, never grantable (any S3-backed store).
    protected_buckets: frozenset[str]
    accounts: AccountService
    import_sources: ImportSources  # the resolver, every read made for an account and under its grants
    source_grants: SourceGrants
    quotas: QuotaService
    audit: AuditTrail
    recovery: Recovery  # its audit records name this process (the operator's repairs included)
    ingest: IngestService
    runner: ImportRunner
    conversions: ConversionService  # converts staged originals (run by the runner); its host's slots
    images: ImageService
    tasks: TaskService  # the OpenStack edge's view of import jobs as Glance tasks
    members: MemberService
    metadefs: MetadefService
    links: DownloadLinkService
    scrubber: Scrubber
    restore: RestoreService
    health: HealthService
    background: BackgroundWork  # the runner's loop, sweeps and scrub: run by the worker, or by the server
    # The Keystone token secret every process of the deployment shares: SCP_IMAGES_TOKEN_SECRET, else the
    # one generated at the first start (services/access/server_secrets.py). Never empty.
    token_secret: str = field(repr=False)

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


def download_redirects(settings: Settings, blobs: BlobStore) -> Redirects | None:
    """Whether downloads answer 307 to the object store. Only an S3 blob store can; on the filesystem store
    SCP_IMAGES_DOWNLOAD_REDIRECT does nothing (a warning says so). Settings that cannot mean anything
    were refused when the Settings were made (``Settings.check``)."""
    if not settings.download_redirect:
        if settings.s3_public_endpoint_url is not None:
            log.warning(
                "SCP_IMAGES_S3_PUBLIC_ENDPOINT_URL does nothing without SCP_IMAGES_DOWNLOAD_REDIRECT=1"
            )
        return None
    if not isinstance(blobs, PresignsReads):
        log.warning("SCP_IMAGES_DOWNLOAD_REDIRECT does nothing on the filesystem blob store (bytes stream)")
        return None
    return Redirects(blobs, settings.download_redirect_seconds)


def _protected_buckets(blobs: BlobStore) -> frozenset[str]:
    bucket = getattr(blobs, "bucket", None)
    return frozenset({bucket}) if isinstance(bucket, str) and bucket else frozenset()


def _scrub_worker(
    settings: Settings, scrubber: Scrubber, db: Database, worker_id: str, clock: Clock
) -> ScrubWorker | None:
    """The continuous scrub, or None while ``scrub_rate`` is 0 (off)."""
    if not settings.scrub_rate:
        return None
    timings = ScrubTimings(
        rate=settings.scrub_rate * MiB,
        cycle_seconds=settings.scrub_cycle_seconds,
        claim_seconds=settings.scrub_claim_seconds,
        retry_seconds=settings.scrub_retry_seconds,
    )
    return ScrubWorker(scrubber, db, timings, worker_id, clock=clock, skip_locked=db.is_postgres)


def _recovery(
    settings: Settings,
    db: Database,
    blobs: BlobStore,
    clock: Clock,
    worker_id: str | None,
    conversions: ConversionHost | None = None,
) -> Recovery:
    """Recovery whose audit records name ``worker_id`` (a runner) as the actor, or this process (None)."""
    return Recovery(
        db,
        blobs,
        stale_seconds=settings.import_stale_seconds,
        grace_seconds=settings.orphan_grace_seconds,
        upload_stale_seconds=settings.body_read_timeout_seconds + settings.import_stale_seconds,
        clock=clock,
        worker_id=worker_id,
        conversions=conversions,
    )


def _conversions(
    settings: Settings,
    db: Database,
    blobs: BlobStore,
    ingest: IngestService,
    quotas: QuotaService,
    clock: Clock,
    discard: Callable[[str], None],
) -> ConversionService:
    """The conversion use case over this host's slots and temporary space (shared by its processes)."""
    host = ConversionHost(
        settings.resolved_conversion_dir(), settings.conversions_per_host, settings.conversion_space_bytes
    )
    conversion = ConversionSettings(
        qemu_img=settings.qemu_img,
        timeout_seconds=settings.conversion_timeout_seconds,
        memory_bytes=settings.conversion_memory_bytes,
        heartbeat_seconds=settings.import_heartbeat_seconds,
    )
    return ConversionService(
        db,
        blobs,
        ingest,
        quotas,
        host,
        conversion,
        max_bytes=settings.import_max_bytes,
        max_virtual_size=settings.max_virtual_size,
        clock=clock,
        discard=discard,
    )


def _wire(
    settings: Settings,
    db: Database,
    blobs: BlobStore,
    clock: Clock,
    sources: SourceResolver,
    secrets: SecretCipher,
    metrics: ProcessMetrics | None,
    accounts: AccountService,
    token_secret: str,
) -> Components:
    """Each service once, in the order they need one another."""
    observers = metrics.observers if metrics is not None else Observers()
    protected = _protected_buckets(blobs)
    import_sources = ImportSources(db, sources, protected)
    quotas = QuotaService(db, settings.quota_defaults(), settings.quota_step_bytes, clock)
    audit = AuditTrail(db, clock, settings.audit_retention_days, settings.audit_unauthenticated_per_second)
    recovery = _recovery(settings, db, blobs, clock, None)
    limits = IngestLimits(settings.import_max_bytes, settings.max_virtual_size, settings.accepted())
    wake = threading.Event()  # the runner's: a job made here starts at once when this process runs it
    ingest = IngestService(db, blobs, limits, quotas, clock, observers.imports, on_job=wake.set)
    timings = RunnerTimings(
        heartbeat_seconds=settings.import_heartbeat_seconds, stale_seconds=settings.import_stale_seconds
    )
    convert = _conversions(settings, db, blobs, ingest, quotas, clock, recovery.discard)
    runner = ImportRunner(
        db,
        ingest,
        import_sources,
        timings=timings,
        clock=clock,
        discard=recovery.discard,
        convert=convert,
        wake=wake,
    )
    redirects = download_redirects(settings, blobs)
    images = ImageService(
        db,
        blobs,
        import_sources,
        quotas,
        clock,
        on_job=runner.wake.set,  # a job made here starts at once when this process runs the background
        downloads=observers.downloads,
        redirects=redirects,
    )
    scrubber = Scrubber(db, blobs, recovery, clock=clock, observer=observers.scrubs)
    # An orphan is removable once it is older than the grace, so sweeping more often gains nothing.
    background = BackgroundWork(
        runner,
        _recovery(settings, db, blobs, clock, runner.worker_id, convert.host),
        sweep_every_seconds=max(1.0, settings.orphan_grace_seconds),
        audit=audit,
        scrub=_scrub_worker(settings, scrubber, db, runner.worker_id, clock),
    )
    return Components(
        settings=settings,
        db=db,
        blobs=blobs,
        clock=clock,
        sources=sources,
        secrets=secrets,
        metrics=metrics,
        redirects=redirects,
        protected_buckets=protected,
        accounts=accounts,
        import_sources=import_sources,
        source_grants=SourceGrants(db, protected, clock),
        quotas=quotas,
        audit=audit,
        recovery=recovery,
        ingest=ingest,
        runner=runner,
        conversions=convert,
        images=images,
        tasks=TaskService(db, images, clock),
        members=MemberService(db, clock),
        metadefs=MetadefService(db, clock),
        links=DownloadLinkService(db, images, clock, secrets=secrets),
        scrubber=scrubber,
        restore=RestoreService(db, blobs, clock),
        health=HealthService(db, blobs, clock=clock),
        background=background,
        token_secret=token_secret,
    )


def _blob_store(settings: Settings) -> BlobStore:
    try:
        return create_blob_store(
            settings.resolved_blob_url(),
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_access_key_id=settings.s3_access_key_id,
            s3_secret_access_key=settings.s3_secret_access_key,
            s3_region=settings.s3_region,
            s3_public_endpoint_url=settings.s3_public_endpoint_url,
        )
    except ValueError as exc:  # a malformed blob URL, or an S3 endpoint botocore cannot use
        raise ConfigError(f"{exc}: check SCP_IMAGES_BLOB_URL and SCP_IMAGES_S3_ENDPOINT_URL") from exc


def _token_secret(settings: Settings, db: Database, secrets: SecretCipher, clock: Clock) -> str:
    """SCP_IMAGES_TOKEN_SECRET when set (an empty value is unset), else the deployment's stored one,
    generated by the first process to start."""
    configured = settings.token_secret.get_secret_value() if settings.token_secret else ""
    return configured or ServerSecrets(db, secrets, clock).token_secret()


def build_components(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    check_blobs: bool = False,
    metrics: ProcessMetrics | None = None,
    blobs: BlobStore | None = None,
    sources: SourceResolver | None = None,
) -> Components:
    """Connect to the configured stores, creating and migrating an empty database first; with
    ``check_blobs``, the blob store must answer before the database is touched (BlobStoreUnavailable).
    ``metrics`` are the figures the services report to (``server_metrics()``, ``worker_metrics``; None for
    the operator CLI). ``blobs`` and ``sources`` replace the configured blob store and import source
    resolver (tests wrap or redirect them). Without SCP_IMAGES_TOKEN_SECRET, the first process to start
    generates the deployment's token secret (under the start-up lock) and every later one reads it.

    Raises SecretKeyError when the secret encryption keys are malformed or cannot read stored secrets, and
    ConfigError for settings that make no sense together."""
    settings.check()  # again: settings copied with model_copy(update=...) were never checked
    secrets = SecretCipher.from_setting(settings.secret_keys())
    engine = create_db_engine(settings.resolved_database_url())
    try:
        store = _blob_store(settings) if blobs is None else blobs
        if check_blobs:
            store.check()
        migrate(engine)
        resolver = SourceResolver(source_config(settings)) if sources is None else sources
        db = Database(engine)
        accounts = AccountService(db, clock, secrets)
        accounts.check_secrets()  # every stored secret readable, before the first is used
        token_secret = _token_secret(settings, db, secrets, clock)
        parts = _wire(settings, db, store, clock, resolver, secrets, metrics, accounts, token_secret)
    except BaseException:
        engine.dispose()
        raise
    return parts


def watch_worker(parts: Components) -> None:
    """The worker's queue depth and age, read from the database when its metrics are scraped."""
    if parts.metrics is None:
        return
    health = parts.health
    parts.metrics.imports.queue_depth.set_function(lambda: health.import_queue().depth)
    parts.metrics.imports.queue_age.set_function(lambda: health.import_queue().age_seconds)


def create_app(
    settings: Settings,
    *,
    components: Components | None = None,
    today: Callable[[], date] = _today,
    now_ms: Callable[[], float] | None = None,
) -> FastAPI:
    """The HTTP app on ``components`` built with ``metrics=server_metrics()`` (the figures its ``/metrics``
    exports, which it adds to), or on components of its own when none are given."""
    parts = components or build_components(settings, metrics=server_metrics())
    if parts.metrics is None:
        raise ValueError("a server's components are built with metrics=server_metrics()")
    metrics = parts.metrics
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
    services = Services(
        guard=guard,
        images=parts.images,
        tasks=parts.tasks,
        ingest=parts.ingest,
        members=parts.members,
        metadefs=parts.metadefs,
        source_grants=parts.source_grants,
        audit=parts.audit,
        links=parts.links,
        transfers=TransferSlots(settings.max_transfers),
        limits=EdgeLimits(
            max_body_bytes=settings.max_body_bytes,
            body_read_timeout_seconds=settings.body_read_timeout_seconds,
            upload_heartbeat_seconds=settings.import_heartbeat_seconds,
            public_urls=tuple(settings.public_urls),
            region=settings.region,
        ),
        store=store_description(settings.resolved_blob_url()),
        inline_io=not parts.db.is_postgres,
        tokens=TokenService(
            authenticator, ttl_seconds=settings.token_ttl_seconds, server_secret=parts.token_secret
        ),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        thread = BackgroundThread(parts.background) if settings.run_import_jobs else None
        if thread is not None:
            thread.start()
        try:
            yield
        finally:
            if thread is not None:
                thread.stop()
            goodbye()

    gauges = ScrapeGauges(
        metrics.imports,
        parts.health,
        ReplayMetrics(metrics.registry),
        replay,
        settings.replay_max_signatures,
    )
    return build_http_app(
        services,
        registry=metrics.registry,
        lifespan=lifespan,
        scrape_gauges=gauges,
        version_table=table,
        settings=settings,
        health=parts.health,
    )
