"""``scp-images admin source grant|revoke|list`` as a real subprocess, seen by tenants over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from scp_images.config import Settings
from tests.api.conftest import s3_settings
from tests.api.helpers import admin
from tests.support.stack import Stack, start_stack


@pytest.fixture
def blob_bucket(s3: Any) -> str:
    bucket = f"blobs-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def admin_settings(settings: Settings, s3_endpoint: str, blob_bucket: str) -> Settings:
    """The server's and the operator's settings: an S3 blob store whose bucket may never be granted."""
    return s3_settings(settings, s3_endpoint, blob_url=f"s3://{blob_bucket}/images")


@pytest.fixture
def stack(admin_settings: Settings) -> Iterator[Stack]:
    running = start_stack(admin_settings)
    yield running
    running.stop()


def source(settings: Settings, *args: str, check: bool = True) -> Any:
    result = admin(settings, "source", *args, check=check)
    return json.loads(result.stdout) if check and "--json" in args else result


def test_grant_revoke_and_list(stack: Stack, admin_settings: Settings) -> None:
    a, b, c = stack.new_account("a"), stack.new_account("b"), stack.new_account("c")
    grant_a = ["--account", a.account_id, "--bucket", "src-bucket"]
    assert source(admin_settings, "grant", *grant_a, "--prefix", "team/a/", "--json") == {
        "account_id": a.account_id,
        "bucket": "src-bucket",
        "prefix": "team/a",  # one trailing slash is the same folder
    }
    whole = source(admin_settings, "grant", *grant_a)  # no --prefix: the whole bucket; text output
    assert whole.stdout.strip() == f"granted s3://src-bucket/  account {a.account_id}"
    stack.grant(a, "src-bucket", "team/a")  # granting again changes nothing
    stack.grant(b, "other-bucket")

    everything = source(admin_settings, "list", "--json")["grants"]
    assert everything == sorted(everything, key=lambda row: (row["account_id"], row["bucket"], row["prefix"]))
    own = [row for row in everything if row["account_id"] == a.account_id]
    assert own == [
        {"account_id": a.account_id, "bucket": "src-bucket", "prefix": ""},
        {"account_id": a.account_id, "bucket": "src-bucket", "prefix": "team/a"},
    ]
    assert {"account_id": b.account_id, "bucket": "other-bucket", "prefix": ""} in everything
    assert len(everything) == 3
    assert stack.request("GET", "/v1/import-sources", a).json() == {"import_sources": own}
    assert stack.request("GET", "/v1/import-sources", c).json() == {"import_sources": []}

    # revoke removes exactly that grant: the whole-bucket grant on the same bucket stays
    removed = source(admin_settings, "revoke", *grant_a, "--prefix", "team/a", "--json")
    assert removed == {"account_id": a.account_id, "bucket": "src-bucket", "prefix": "team/a"}
    assert source(admin_settings, "list", "--account", a.account_id, "--json") == {"grants": own[:1]}
    twice = source(admin_settings, "revoke", *grant_a, "--prefix", "team/a", check=False)
    assert twice.returncode == 1 and "virtualserver.image.SourceGrantNotFound" in twice.stderr
    assert stack.request("GET", "/v1/import-sources", a).json() == {"import_sources": own[:1]}


@pytest.mark.parametrize("prefix", [None, "images/images"])
def test_the_blob_store_bucket_is_refused_with_exit_2(
    stack: Stack, admin_settings: Settings, blob_bucket: str, prefix: str | None
) -> None:
    account = stack.new_account("a")
    args = ["grant", "--account", account.account_id, "--bucket", blob_bucket, "--json"]
    refused = source(admin_settings, *args, *([] if prefix is None else ["--prefix", prefix]), check=False)
    assert refused.returncode == 2
    assert "virtualserver.image.InvalidSourceGrant" in refused.stderr
    assert "holds this service's image data" in refused.stderr
    assert stack.components.source_grants.list_grants() == []


def test_malformed_grants_exit_2_and_an_unknown_account_exits_1(
    stack: Stack, admin_settings: Settings
) -> None:
    account = stack.new_account("a")
    bad_bucket = source(
        admin_settings, "grant", "--account", account.account_id, "--bucket", "No_Such", check=False
    )
    assert bad_bucket.returncode == 2 and "not a valid bucket name" in bad_bucket.stderr
    args = ["grant", "--account", account.account_id, "--bucket", "src-bucket", "--prefix", "a//b"]
    assert source(admin_settings, *args, check=False).returncode == 2
    unknown = source(admin_settings, "grant", "--account", "f" * 32, "--bucket", "src-bucket", check=False)
    assert unknown.returncode == 1 and "virtualserver.account.NotFound" in unknown.stderr
    assert stack.components.source_grants.list_grants() == []
