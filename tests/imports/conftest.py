"""Fixtures for the import source tests: an object store (SeaweedFS) and a plain HTTP server, on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from scp_images.imports.sources import SourceConfig, SourceResolver
from tests.imports.helpers import ImageServer, start_image_server
from tests.support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, drop_bucket
from tests.support.s3 import s3_client as make_s3_client

MiB = 1 << 20
HTTP_MAX_BYTES = 256 * 1024
HTTP_CHUNK_SIZE = 64 * 1024
MULTIPART_KEY = "images/multipart.qcow2"


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    return make_s3_client(s3_endpoint)


def _put_in_parts(client: Any, bucket: str, key: str, sizes: list[int]) -> bytes:
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    bodies = [os.urandom(size) for size in sizes]
    parts = []
    for number, body in enumerate(bodies, 1):
        answer = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    done = {"Parts": parts}
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload=done)
    return b"".join(bodies)


@pytest.fixture(scope="session")
def s3_objects(s3_client: Any) -> Iterator[dict[str, Any]]:
    """One bucket with a multi-MiB object, a small one, a key that needs percent-encoding in a URL, and an
    object stored as a multipart upload (read back through part boundaries)."""
    bucket = f"images-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    objects = {
        "images/2024/ubuntu-22.04.qcow2": os.urandom(5 * MiB + 123),
        "small.qcow2": os.urandom(1000),
        "dir/with space+plus.qcow2": os.urandom(3 * MiB),
    }
    for key, body in objects.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)
    objects[MULTIPART_KEY] = _put_in_parts(s3_client, bucket, MULTIPART_KEY, [5 * MiB, 2 * MiB + 17])
    yield {"bucket": bucket, "objects": objects}
    drop_bucket(s3_client, bucket)


@pytest.fixture
def s3_config(s3_endpoint: str) -> Callable[..., SourceConfig]:
    def make(**changes: Any) -> SourceConfig:
        values: dict[str, Any] = {
            "s3_endpoint_url": s3_endpoint,
            "s3_access_key_id": ACCESS_KEY_ID,
            "s3_secret_access_key": SECRET_ACCESS_KEY,
            "s3_region": REGION,
            "allowed_hosts": (),
            "max_bytes": 64 * MiB,
            "chunk_size": MiB,
        }
        values.update(changes)
        return SourceConfig(**values)

    return make


@pytest.fixture(scope="session")
def http_files() -> dict[str, bytes]:
    return {
        "image.qcow2": os.urandom(200 * 1024 + 7),
        "small.qcow2": os.urandom(3000),
        "exact.qcow2": os.urandom(HTTP_MAX_BYTES),
    }


@pytest.fixture(scope="session")
def _http_server_session(http_files: dict[str, bytes]) -> Iterator[ImageServer]:
    server, httpd = start_image_server(http_files)
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def http_server(_http_server_session: ImageServer) -> ImageServer:
    """The session's server with an empty request log, so a test sees only its own requests."""
    _http_server_session.log.clear()
    return _http_server_session


@pytest.fixture
def http_resolver() -> Callable[..., SourceResolver]:
    """A resolver that accepts http:// (test-only) with small limits; no S3."""

    def make(
        allowed_hosts: tuple[str, ...] = (),
        resolve_host: Callable[[str], list[str]] | None = None,
        max_bytes: int = HTTP_MAX_BYTES,
    ) -> SourceResolver:
        config = SourceConfig(None, None, None, None, allowed_hosts, max_bytes, HTTP_CHUNK_SIZE)
        return SourceResolver(config, resolve_host=resolve_host, allow_plain_http_for_tests=True)

    return make
