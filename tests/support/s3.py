"""A real S3 endpoint for tests: moto's server on a free loopback port, in this process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
REGION = "us-east-1"


def start_s3_server() -> tuple[str, Callable[[], None]]:
    """Start moto's S3 server; return its endpoint URL and a callable that stops it (safe to call twice)."""
    # One access-log line per request would drown the interesting part of a failing test's captured log.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            server.stop()

    return f"http://{host}:{port}", stop


def s3_client(endpoint_url: str) -> Any:
    """A plain boto3 client on the test server, for looking behind the stores' backs."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
    )
