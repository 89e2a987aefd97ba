"""Prometheus metrics for the HTTP edge: requests by route, status and API version, latency and quota
refusals; the import, download and scrub paths' figures; and gauges read from the database when scraped
(import queue depth and age, replay-guard fill).

Under ``serve --workers N`` every process writes its figures to prometheus_client's multiprocess directory
(``PROMETHEUS_MULTIPROC_DIR``, set by serve) and ``/metrics`` on any of them answers for all of them:
counters and histograms summed, gauges by their ``multiprocess_mode``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import Scope

from scp_images.domain import errors as e
from scp_images.services.access.auth import ReplayGuard
from scp_images.services.health import HealthService

_MAX_CACHED_CHILDREN = 4096
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


# The limits by their Glance unified-limits names, as the refusals' messages and `admin quota` say them.
QUOTA_LIMITS: dict[type[e.QuotaExceeded], str] = {
    e.ImageCountQuotaExceeded: "image_count_total",
    e.ImageSizeQuotaExceeded: "image_size_total",
    e.UploadingQuotaExceeded: "image_count_uploading",
}
_QUOTA_REFUSED = "quota_refused"  # the request state's key: which limit refused the call


def note_refusal(scope: Scope, error: e.DomainError) -> None:
    """Called by each edge's error handler: a quota refusal is counted (by the middleware) once the
    answer is sent, whichever edge's form it takes."""
    if isinstance(error, e.QuotaExceeded):
        limit = QUOTA_LIMITS.get(type(error), "other")
        scope.setdefault("state", {})[_QUOTA_REFUSED] = limit


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "scp_images_http_requests_total",
            "HTTP requests",
            ["method", "route", "status", "api_version"],
            registry=registry,
        )
        self.latency = Histogram(
            "scp_images_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=registry,
        )
        # A gauge, not a counter: in multiprocess mode only gauges keep their pid label, and this one is
        # there to show how the kernel spreads connections over the processes ("liveall": live ones).
        self.by_process = Gauge(
            "scp_images_process_http_requests",
            "HTTP requests answered by this server process since it started",
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.quota_refusals = Counter(
            "scp_images_quota_refusals_total",
            "Creates, imports and uploads refused because an account quota would be exceeded, by limit",
            ["limit"],
            registry=registry,
        )
        for limit in QUOTA_LIMITS.values():
            self.quota_refusals.labels(limit)  # every limit's series exists from the start, at 0
        # The label children, looked up once: ``labels()`` validates and joins its arguments each call.
        self._counted: dict[tuple[str, str, int, str], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    def observe(self, method: str, route: str, status: int, state: dict[str, Any], elapsed: float) -> None:
        """One answered request; ``route`` is the path template, not the raw path."""
        version = state.get("api_version", "none")
        _child(
            self._counted,
            (method, route, status, version),
            self.requests,
            method,
            route,
            str(status),
            version,
        ).inc()
        _child(self._timed, (method, route), self.latency, method, route).observe(elapsed)
        self.by_process.inc()
        refused = state.get(_QUOTA_REFUSED)
        if refused is not None:
            self.quota_refusals.labels(refused).inc()


def _scraped_gauge(name: str, documentation: str, registry: CollectorRegistry) -> Gauge:
    """A gauge read from the database when scraped: the newest reading, of any process, is the true one."""
    return Gauge(name, documentation, registry=registry, multiprocess_mode="mostrecent")


class ImportMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.bytes = Counter("scp_images_import_bytes_total", "Image bytes ingested", registry=registry)
        self.duration = Histogram(
            "scp_images_import_duration_seconds",
            "Import durations",
            ["outcome"],
            buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600),
            registry=registry,
        )
        self.failures = Counter(
            "scp_images_import_failures_total", "Failed imports by reason", ["reason"], registry=registry
        )
        self.queue_depth = _scraped_gauge("scp_images_import_queue_depth", "Import jobs waiting", registry)
        self.queue_age = _scraped_gauge(
            "scp_images_import_queue_age_seconds",
            "How long the oldest import job waiting for a runner has waited (0 when none waits)",
            registry,
        )


class PrometheusImportObserver:
    """Feeds the import path's reports into ``ImportMetrics``."""

    def __init__(self, metrics: ImportMetrics) -> None:
        self._metrics = metrics

    def import_finished(self, outcome: str, reason: str | None, size: int, seconds: float) -> None:
        self._metrics.bytes.inc(size)
        self._metrics.duration.labels(outcome).observe(seconds)
        if outcome == "killed":
            self._metrics.failures.labels(reason or "unknown").inc()


class DownloadMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.data_missing = Counter(
            "scp_images_image_data_missing_total",
            "Downloads of active images whose bytes are missing from the blob store",
            registry=registry,
        )
        self.flagged_refused = Counter(
            "scp_images_flagged_downloads_refused_total",
            "Downloads refused because the integrity scrub flagged the image's data, by flag",
            ["flag"],
            registry=registry,
        )


class PrometheusDownloadObserver:
    """Feeds the download path's reports into ``DownloadMetrics``."""

    def __init__(self, metrics: DownloadMetrics) -> None:
        self._metrics = metrics

    def image_data_missing(self) -> None:
        self._metrics.data_missing.inc()

    def flagged_download_refused(self, flag: str) -> None:
        self._metrics.flagged_refused.labels(flag).inc()


class ScrubMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.checked = Counter(
            "scp_images_scrub_images_total",
            "Images the integrity scrub checked, by outcome (fine, corrupt, missing, unreadable, gone)",
            ["outcome"],
            registry=registry,
        )
        self.bytes = Counter(
            "scp_images_scrub_bytes_total", "Bytes the integrity scrub read", registry=registry
        )
        self.flagged = Counter(
            "scp_images_scrub_flagged_total",
            "Images the integrity scrub newly flagged, by flag (corrupt, missing)",
            ["flag"],
            registry=registry,
        )


class PrometheusScrubObserver:
    """Feeds the scrub's reports into ``ScrubMetrics``."""

    def __init__(self, metrics: ScrubMetrics) -> None:
        self._metrics = metrics

    def image_checked(self, outcome: str, bytes_read: int) -> None:
        self._metrics.checked.labels(outcome).inc()
        self._metrics.bytes.inc(bytes_read)

    def image_flagged(self, flag: str) -> None:
        self._metrics.flagged.labels(flag).inc()


class ReplayMetrics:
    """The replay guard's fill, read from the database when scraped; fill = signatures / max_signatures."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.signatures = _scraped_gauge(
            "scp_images_replay_guard_signatures",
            "Signatures the replay guard remembers (0 while replay protection is off)",
            registry,
        )
        self.capacity = _scraped_gauge(
            "scp_images_replay_guard_max_signatures",
            "Signatures the replay guard keeps at most (SCP_IMAGES_REPLAY_MAX_SIGNATURES); when full, "
            "new signed requests get 503",
            registry,
        )


class ScrapeGauges:
    """The gauges read from the database at each scrape of ``/metrics``: one query each, and the newest
    reading is the true one (hence ``mostrecent`` in multiprocess mode)."""

    def __init__(
        self,
        imports: ImportMetrics,
        health: HealthService,
        replay: ReplayMetrics,
        guard: ReplayGuard | None,
        max_signatures: int,
    ) -> None:
        self._imports = imports
        self._health = health
        self._replay = replay
        self._guard = guard
        self._max = guard.capacity if guard is not None else max_signatures

    def refresh(self) -> None:
        queue = self._health.import_queue()
        self._imports.queue_depth.set(queue.depth)
        self._imports.queue_age.set(queue.age_seconds)
        self._replay.signatures.set(self._guard.remembered() if self._guard is not None else 0)
        self._replay.capacity.set(self._max)


def multiprocess_dir() -> Path | None:
    """prometheus_client's multiprocess directory, when this process writes its metrics there."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(given) if given else None


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """This process's registry, or in multiprocess mode every process of this run (the dead ones' live
    gauges dropped first)."""
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(registry), CONTENT_TYPE_LATEST
    forget_dead_processes(directory)
    merged = CollectorRegistry()
    MultiProcessCollector(merged, path=str(directory))
    return generate_latest(merged), CONTENT_TYPE_LATEST


_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


def forget_dead_processes(directory: Path) -> None:
    """A process killed without a goodbye (SIGKILL, OOM) leaves its live gauges behind; uvicorn replaces it
    but tells no one, so each scrape checks the pids behind those files instead."""
    pids = {int(m[1]) for f in directory.glob("gauge_live*.db") if (m := _LIVE_FILE.fullmatch(f.name))}
    for pid in pids:
        if not _alive(pid):
            mark_process_dead(pid, str(directory))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def goodbye() -> None:
    """At a process's orderly exit: its live gauges go (counters stay, they must never go backwards)."""
    directory = multiprocess_dir()
    if directory is not None:
        mark_process_dead(os.getpid(), str(directory))


def _child(cache: dict[Any, Any], key: tuple[Any, ...], metric: Any, *labels: str) -> Any:
    """A metric's label child, looked up once (``labels()`` validates and joins its arguments each call);
    the cache stays bounded, since a request's method is the client's to choose."""
    child = cache.get(key)
    if child is None:
        child = metric.labels(*labels)
        if len(cache) < _MAX_CACHED_CHILDREN:
            cache[key] = child
    return child
