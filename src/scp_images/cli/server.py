"""``scp-images serve`` and ``scp-images worker``."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from scp_images.app import Components, build_components, create_app
from scp_images.cli._output import fail
from scp_images.cli._settings import build_settings
from scp_images.config import Settings
from scp_images.logs import configure_logging
from scp_images.services.secrets import SETTING, SecretKeyError

log = logging.getLogger("scp_images.server")


def _start(settings: Settings) -> Components:
    """The components, or a one-line error (exit 1) when the secret keys do not fit the database."""
    if not settings.secret_keys():
        log.warning(
            "access-key secrets are stored unencrypted: set %s to encrypt them at rest",
            SETTING,
            extra={"secret_encryption": False},
        )
    try:
        return build_components(settings)
    except SecretKeyError as exc:
        log.error("cannot start: %s", exc)
        fail(str(exc))


def _announce_demo_credentials(parts: Components, endpoint: str) -> None:
    """On the first start (no account yet) create a demo account and key and say how to use them."""
    if parts.accounts.list_accounts():
        return
    account = parts.accounts.create_account("demo")
    key = parts.accounts.create_key(account.id, "demo@example.com")
    typer.echo(
        "\nFirst start: created a demo account and access key.\n"
        f"  account id : {account.id}\n"
        f"  access key : {key.access_key}\n"
        f"  secret key : {key.secret_key}\n\n"
        "Try it:\n"
        f"  export SCP_ENDPOINT={endpoint} SCP_ACCESS_KEY={key.access_key} SCP_SECRET_KEY={key.secret_key}\n"
        "  scp-images image list\n"
        f"  scp-images admin --data-dir {parts.settings.data_dir.resolve()} image import --file disk.qcow2 "
        f"--name my-image --os-distro ubuntu --owner {account.id} --visibility private\n",
        err=False,
    )


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8080,
    data_dir: Annotated[Path | None, typer.Option(help="Data dir (else SCP_IMAGES_DATA_DIR)")] = None,
    database_url: Annotated[str | None, typer.Option(help="Else SCP_IMAGES_DATABASE_URL")] = None,
    log_level: Annotated[str, typer.Option(help="Log level; info logs one JSON line per request")] = "info",
) -> None:
    """Run the HTTP API (embedded default: SQLite and image files under the data dir)."""
    import uvicorn

    configure_logging(log_level)
    settings = build_settings(data_dir, database_url)
    parts = _start(settings)
    endpoint = settings.public_urls[0] if settings.public_urls else f"http://{host}:{port}"
    _announce_demo_credentials(parts, endpoint)
    app = create_app(settings, components=parts)
    typer.echo(f"scp-images listening on http://{host}:{port} (data: {settings.resolved_database_url()})")
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, proxy_headers=False)


def worker(
    data_dir: Annotated[Path | None, typer.Option(help="Data dir (else SCP_IMAGES_DATA_DIR)")] = None,
    database_url: Annotated[str | None, typer.Option(help="Else SCP_IMAGES_DATABASE_URL")] = None,
) -> None:
    """Run import jobs outside the server process (start servers with SCP_IMAGES_RUN_IMPORT_JOBS=0)."""
    configure_logging("info")
    settings = build_settings(data_dir, database_url)
    parts = _start(settings)
    runner = parts.runner()
    stop = threading.Event()

    def request_stop(*_: object) -> None:
        stop.set()
        runner.wake.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    typer.echo(
        f"scp-images worker {runner.worker_id} running import jobs from {settings.resolved_database_url()}"
    )
    runner.recover()
    runner.serve_forever(stop)
    parts.close()
