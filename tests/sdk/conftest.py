"""SDK fixtures: an account with its own Client against the live test server; an S3 source for imports."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from scp_images.client import Client
from scp_images.config import Settings
from tests.support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, drop_bucket
from tests.support.stack import Key, Stack, start_stack


@pytest.fixture
def owner(stack: Stack) -> Key:
    return stack.new_account("owner")


@pytest.fixture
def client(stack: Stack, owner: Key) -> Iterator[Client]:
    with stack.client(owner) as sdk:
        yield sdk


@pytest.fixture
def small_qcow2(make_qcow2: Callable[..., Path]) -> Path:
    """A valid qcow2 of a few hundred KiB: quick to upload many times."""
    return make_qcow2("small.qcow2", "1M", data=False)


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> Iterator[Any]:
    """A fresh bucket on the object store (SeaweedFS); ``put(key, path)`` stores a file in it."""
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
    )
    name = f"images-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield SimpleNamespace(name=name, put=lambda key, path: s3.upload_file(str(path), name, key))
    drop_bucket(s3, name)


@pytest.fixture
def s3_stack(tmp_path: Path, database_url: str, s3_endpoint: str) -> Iterator[Stack]:
    """A live server whose imports read ``s3://`` URLs from the object store."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id=ACCESS_KEY_ID,
        s3_secret_access_key=SECRET_ACCESS_KEY,
        s3_region=REGION,
    )
    running = start_stack(settings)
    yield running
    running.stop()
