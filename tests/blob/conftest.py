"""Fixtures for the blob conformance suite: every test runs against the filesystem and S3 backends.

The S3 backend is tested against SeaweedFS (session fixture ``s3_endpoint``), a real object store.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scp_images.store.blob import BlobStore, FilesystemBlobStore, S3BlobStore
from scp_images.store.blob.filesystem import STAGING_DIR
from scp_images.store.blob.s3 import MIN_PART_SIZE
from tests.support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, drop_bucket
from tests.support.s3 import s3_client as make_s3_client

# S3's minimum, so that multipart paths are exercised with little data.
PART_SIZE = MIN_PART_SIZE


@pytest.fixture(scope="session")
def s3_server(s3_endpoint: str) -> dict[str, str]:
    return {
        "endpoint_url": s3_endpoint,
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
        "region": REGION,
    }


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    """A plain client for looking behind the store's back (open uploads, raw objects)."""
    return make_s3_client(s3_endpoint)


@pytest.fixture
def s3_bucket(s3_client: Any) -> Iterator[str]:
    bucket = f"blobs-{uuid.uuid4().hex}"
    s3_client.create_bucket(Bucket=bucket)
    yield bucket
    drop_bucket(s3_client, bucket)


def make_s3_store(server: dict[str, str], bucket: str, prefix: str = "scp", **options: Any) -> S3BlobStore:
    return S3BlobStore(
        bucket,
        prefix,
        endpoint_url=server["endpoint_url"],
        access_key_id=server["access_key_id"],
        secret_access_key=server["secret_access_key"],
        region=server["region"],
        **{"part_size": PART_SIZE, **options},
    )


@pytest.fixture(params=["file", "s3"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "file":
        return FilesystemBlobStore(tmp_path / "blobs")
    server = request.getfixturevalue("s3_server")
    return make_s3_store(server, request.getfixturevalue("s3_bucket"))


@pytest.fixture
def staged_count(request: pytest.FixtureRequest) -> Callable[[BlobStore], int]:
    """How many uploads are staged but neither committed nor cancelled, seen from behind the store."""

    def count(store: BlobStore) -> int:
        if isinstance(store, FilesystemBlobStore):
            return len(list((store.root / STAGING_DIR).iterdir()))
        assert isinstance(store, S3BlobStore)
        client = request.getfixturevalue("s3_client")
        uploads = client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
        return len(uploads.get("Uploads", []))

    return count
