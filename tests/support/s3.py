"""S3 test helpers: the credentials every test S3 endpoint accepts, a plain boto3 client, and moto.

The S3 tests run against SeaweedFS (``tests/support/seaweed.py``), a real object store. moto's server stays
for the few error paths a real store cannot be made to produce (fixture ``moto_endpoint``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import boto3
import httpx
from botocore.config import Config

from tests.support.tools import wait_until

ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
REGION = "us-east-1"
READY_SECONDS = 30.0


def start_moto_server() -> tuple[str, Callable[[], None]]:
    """Start moto's S3 server; return its endpoint URL and a callable that stops it (safe to call twice).

    The server is made here (so a failure to bind raises here, where moto's own ThreadedMotoServer would
    wait for it forever) and the call returns once it answers a request, within READY_SECONDS."""
    # imported here: most sessions never need moto
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

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


def s3_client(endpoint_url: str, config: Config | None = None) -> Any:
    """A plain boto3 client on a test endpoint, for looking behind the stores' backs."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
        config=config or Config(s3={"addressing_style": "path"}),
    )


def drop_bucket(client: Any, bucket: str) -> None:
    """Abort open uploads, delete every object, delete the bucket: SeaweedFS keeps a volume per bucket."""
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)
