"""Fixtures for lifecycle tests: a real object store (SeaweedFS) for import sources and the S3 blob store."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scp_images.config import Settings
from tests.support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, drop_bucket, s3_client
from tests.support.stack import Stack, start_stack


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    return s3_client(s3_endpoint)


@pytest.fixture
def source_bucket(s3: Any) -> Iterator[str]:
    bucket = f"src-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)
    yield bucket
    drop_bucket(s3, bucket)


@pytest.fixture
def put_object(s3: Any, source_bucket: str) -> Callable[[Path, str], str]:
    """Upload a file; returns its ``s3://`` URL."""

    def put(path: Path, key: str) -> str:
        s3.upload_file(str(path), source_bucket, key)
        return f"s3://{source_bucket}/{key}"

    return put


def s3_settings(base: Settings, endpoint: str, **more: Any) -> Settings:
    return base.model_copy(
        update={
            "s3_endpoint_url": endpoint,
            "s3_access_key_id": ACCESS_KEY_ID,
            "s3_secret_access_key": SECRET_ACCESS_KEY,
            "s3_region": REGION,
            "import_heartbeat_seconds": 0.2,
            **more,
        }
    )


@pytest.fixture(params=["file", "s3"])
def lifecycle_stack(
    request: pytest.FixtureRequest, settings: Settings, s3_endpoint: str, s3: Any
) -> Iterator[Stack]:
    """A server importing from the S3 server, storing image data on the filesystem or in S3."""
    more: dict[str, Any] = {}
    bucket = None
    if request.param == "s3":
        bucket = f"blobs-{uuid.uuid4().hex[:16]}"
        s3.create_bucket(Bucket=bucket)
        more["blob_url"] = f"s3://{bucket}/images-store"
    running = start_stack(s3_settings(settings, s3_endpoint, **more))
    yield running
    running.stop()
    if bucket is not None:
        drop_bucket(s3, bucket)
