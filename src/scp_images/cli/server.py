"""``scp-images serve`` and ``scp-images worker``."""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from fastapi import FastAPI

from scp_images.app import (
    Components,
    ProcessMetrics,
    create_app,
    server_metrics,
    watch_worker,
    worker_metrics,
)
from scp_images.cli import uvicorn_server
from scp_images.cli._settings import (
    StartupError,
    build_settings,
    is_embedded,
    masked,
    open_components,
    startup_errors,
)
from scp_images.config import Settings
from scp_images.domain.accounts import AccessKey, Account
from scp_images.logs import configure_logging
from scp_images.services.access.secrets import SETTING

__all__ = ["is_embedded", "process_app", "serve", "worker", "worker_count"]

log = logging.getLogger("scp_images.server")


def _start(settings: Settings, metrics: ProcessMetrics | None = None) -> Components:
    """The components of a long-running process, which stops with one line when the blob store cannot be
    used (serve and worker need it at once), and warns when secrets are stored unencrypted."""
    parts = open_components(settings, create=True, check_blobs=True, metrics=metrics)
    if not settings.secret_keys():
        stored = "access-key secrets" if settings.token_secret else "access-key secrets and the token secret"
        log.warning(
            "%s are stored unencrypted: set %s to encrypt them at rest",
            stored,
            SETTING,
            extra={"secret_encryption": False},
        )
    return parts


def shown_url(url: str) -> str:
    """A database URL fit for a log line: the password masked."""
    return masked(url)


def _first_start(parts: Components, endpoint: str, demo: bool) -> None:
    """The embedded default (or ``--demo``) on a database without accounts gets a demo account and key;
    shared infrastructure starts with none and says how to make one. Later starts say how to make a key:
    a secret is shown once, when it is made, never again."""
    settings = parts.settings
    embedded = is_embedded(settings)
    admin = f"scp-images admin --data-dir {settings.data_dir.resolve()}" if embedded else "scp-images admin"
    console = f"{endpoint.rstrip('/')}/console"
    if demo or embedded:
        created = parts.accounts.create_first_account("demo", "demo@example.com")
        if created is not None:
            _demo_banner(*created, endpoint=endpoint, console=console)
            return
    elif not parts.accounts.list_accounts():
        log.warning(NO_ACCOUNT_YET.format(admin=admin, console=console))
        return
    log.info(MAKE_A_KEY.format(admin=admin, console=console))


def _demo_banner(account: Account, key: AccessKey, *, endpoint: str, console: str) -> None:
    # Through the log, like every other start-up line: readable on a terminal, one JSON record (with the
    # key as fields too) when a machine reads the log.
    log.warning(
        "First start: created a demo account and access key.\n"
        f"  account id : {account.id}\n"
        f"  access key : {key.access_key}\n"
        f"  secret key : {key.secret_key}\n"
        f"  console    : {console}\n\n"
        "Try it:\n"
        # One variable a line: the three on one line pass 80 columns, and a wrapped line pastes badly.
        f"  export SCP_ENDPOINT={endpoint}\n"
        f"  export SCP_ACCESS_KEY={key.access_key}\n"
        f"  export SCP_SECRET_KEY={key.secret_key}\n"
        "  scp-images image create --name my-image --os-distro ubuntu --file disk.qcow2\n"
        "  scp-images image list\n"
        "The secret key is shown only now; later starts say how to make another key.",
        extra={"account_id": account.id, "access_key": key.access_key, "secret_key": key.secret_key},
    )


NO_ACCOUNT_YET = (
    "No account yet. Create one with the same SCP_IMAGES_* settings as this server:\n"
    "  {admin} account create --name NAME\n"
    "  {admin} key create --account ACCOUNT_ID --user EMAIL\n"
    "then sign in to the console at {console} with that key.\n"
    "(`serve --demo` makes a demo account and key on a database that has no account.)"
)
MAKE_A_KEY = (
    "Console: {console}\n"
    "To make an access key (its secret is shown once):\n"
    "  {admin} account list\n"
    "  {admin} key create --account ACCOUNT_ID --user EMAIL"
)


class LogFormat(StrEnum):
    auto = "auto"
    json = "json"
    console = "console"


LogFormatOpt = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="console (readable lines), json (one object per line) or auto: console on a terminal, else json",
    ),
]


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8080,
    data_dir: Annotated[Path | None, typer.Option(help="Data dir (else SCP_IMAGES_DATA_DIR)")] = None,
    database_url: Annotated[str | None, typer.Option(help="Else SCP_IMAGES_DATABASE_URL")] = None,
    log_level: Annotated[str, typer.Option(help="Log level; info logs one JSON line per request")] = "info",
    demo: Annotated[
        bool, typer.Option(help="Make a demo account and key if the database has no account (any database)")
    ] = False,
    log_format: LogFormatOpt = LogFormat.auto,
    workers: Annotated[
        str, typer.Option(help="Server processes on the one port: a number, or 'auto' (one per CPU core)")
    ] = "1",
) -> None:
    """Run the HTTP API (embedded default: SQLite and image files under the data dir)."""
    count = worker_count(workers)
    configure_logging(log_level, log_format=log_format.value)
    settings = build_settings(data_dir, database_url)
    # The port first: on a busy one nothing is created, nothing printed but one line.
    with startup_errors(settings):
        sock = uvicorn_server.listen(host, port)
    # Each of several processes makes its own figures (process_app): none here, where they would be
    # written to the shared multiprocess directory under this process's id.
    parts = _start(settings, server_metrics() if count == 1 else None)
    endpoint = settings.public_urls[0] if settings.public_urls else f"http://{host}:{port}"
    _first_start(parts, endpoint, demo)
    data = shown_url(settings.resolved_database_url())
    processes = f", {count} processes" if count > 1 else ""
    log.info("scp-images listening on http://%s:%d (data: %s%s)", host, port, data, processes)
    options = uvicorn_server.server_options(host, port, settings.shutdown_timeout_seconds)
    if count == 1:
        app = create_app(settings, components=parts)
        settle_heap()
        uvicorn_server.serve_one(app, sock, **options)
        return
    parts.close()  # each process opens its own, from the settings passed down in the environment
    _pass_down(settings, log_level, log_format.value)
    uvicorn_server.serve_many(f"{__name__}:process_app", count, sock, **options)


def worker_count(value: str) -> int:
    """``--workers``: a positive number, or ``auto`` for one process per CPU core."""
    if value == "auto":
        return os.cpu_count() or 1
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 256:
        raise typer.BadParameter(
            f"{value!r} is not a number of processes (1-256) or 'auto'", param_hint="--workers"
        )
    return int(value)


_LOG_LEVEL = "SCP_IMAGES_SERVE_LOG_LEVEL"
_LOG_FORMAT = "SCP_IMAGES_SERVE_LOG_FORMAT"


def _pass_down(settings: Settings, log_level: str, log_format: str) -> None:
    """The children are spawned fresh: they read the settings from the environment, so put serve's flags
    there (the rest of the environment they inherit as it is)."""
    os.environ["SCP_IMAGES_DATA_DIR"] = str(settings.data_dir.resolve())
    if settings.database_url:
        os.environ["SCP_IMAGES_DATABASE_URL"] = settings.database_url
    os.environ[_LOG_LEVEL] = log_level
    os.environ[_LOG_FORMAT] = log_format


def process_app() -> FastAPI:
    """The app factory of each ``serve --workers N`` process: its own Settings and components."""
    configure_logging(os.environ.get(_LOG_LEVEL) or "info", log_format=os.environ.get(_LOG_FORMAT) or "auto")
    settings = build_settings()
    app = create_app(settings, components=open_components(settings, create=True, metrics=server_metrics()))
    settle_heap()
    return app


def settle_heap() -> None:
    """What start-up made (modules, the app, its services: ~150,000 objects) lives as long as the
    process. Frozen out of the collector's sight (``gc.freeze``), a full collection while serving walks
    only what requests made, instead of pausing every request in flight for tens of milliseconds (the
    Show's p99, docs/decisions.md)."""
    gc.collect()
    gc.freeze()


def _metrics_port(settings: Settings, host: str, port: int | None) -> tuple[Any, ProcessMetrics | None]:
    """The worker's metrics server, listening before anything is opened (a busy port: one line)."""
    if port is None:
        return None, None
    with startup_errors(settings):
        try:
            return worker_metrics(host, port)
        except OSError as exc:
            raise StartupError(uvicorn_server.port_problem(exc, host, port, "--metrics-port")) from exc


def worker(
    data_dir: Annotated[Path | None, typer.Option(help="Data dir (else SCP_IMAGES_DATA_DIR)")] = None,
    database_url: Annotated[str | None, typer.Option(help="Else SCP_IMAGES_DATABASE_URL")] = None,
    log_format: LogFormatOpt = LogFormat.auto,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve this worker's Prometheus metrics (imports, scrub) on this port")
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address of the metrics port")] = "127.0.0.1",
) -> None:
    """Run import jobs outside the server process (start servers with SCP_IMAGES_RUN_IMPORT_JOBS=0), and
    the continuous integrity scrub when SCP_IMAGES_SCRUB_RATE (MiB/s) is above 0."""
    configure_logging("info", log_format=log_format.value)
    settings = build_settings(data_dir, database_url)
    exporter, metrics = _metrics_port(settings, metrics_host, metrics_port)
    parts = _start(settings, metrics)
    watch_worker(parts)
    work = parts.background
    stop = threading.Event()

    def request_stop(*_: object) -> None:
        work.request_stop(stop)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    data = shown_url(settings.resolved_database_url())
    scrub = f"scrubbing at {settings.scrub_rate:g} MiB/s" if work.scrub else "integrity scrub off"
    log.info("scp-images worker %s running import jobs from %s (%s)", work.runner.worker_id, data, scrub)
    work.run(stop)
    if exporter is not None:
        exporter.shutdown()
    parts.close()
