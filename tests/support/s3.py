"""A real S3 endpoint for tests: moto's server on a free loopback port, in this process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import boto3
import httpx
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from tests.support.tools import wait_until

ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
REGION = "us-east-1"
READY_SECONDS = 30.0


def start_s3_server() -> tuple[str, Callable[[], None]]:
    """Start moto's S3 server; return its endpoint URL and a callable that stops it (safe to call twice).

    The server is made here (so a failure to bind raises here, where moto's own ThreadedMotoServer would
    wait for it forever) and the call returns once it answers a request, within READY_SECONDS."""
    # One access-log line per request would drown the interesting part of a failing test's captured log.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto-s3", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    endpoint = f"http://{host}:{port}"
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)

    try:
        wait_until(lambda: _answers(endpoint), what="moto's S3 server", timeout=READY_SECONDS)
    except Exception:
        stop()
        raise
    return endpoint, stop


def _answers(endpoint: str) -> bool:
    try:
        httpx.get(endpoint + "/", timeout=2)
    except httpx.HTTPError:
        return False
    return True


def s3_client(endpoint_url: str) -> Any:
    """A plain boto3 client on the test server, for looking behind the stores' backs."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
    )
