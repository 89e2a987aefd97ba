"""Opening ``s3://`` and SCP Object Storage URLs against a real object store (SeaweedFS) on loopback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from botocore.config import Config

from scp_images.domain.errors import DiskImageRejected, ImportSourceRejected
from scp_images.imports.sources import SourceConfig, SourceResolver
from tests.imports.conftest import MULTIPART_KEY, MiB
from tests.imports.helpers import assert_chunked, read_all
from tests.support.s3 import s3_client as make_s3_client
from tests.support.seaweed import LIST_ONLY_ACCESS_KEY_ID, LIST_ONLY_SECRET_ACCESS_KEY

ACCOUNT = "0123456789abcdef0123456789abcdef"
BIG_KEY = "images/2024/ubuntu-22.04.qcow2"


def scp_url(bucket: str, key: str, region: str = "kr-west1", env: str = "e") -> str:
    return f"https://object-store.{region}.{env}.samsungsdscloud.com/{ACCOUNT}/{bucket}/{quote(key)}"


@pytest.fixture
def resolver(s3_config: Callable[..., SourceConfig]) -> SourceResolver:
    return SourceResolver(s3_config())


@pytest.mark.parametrize("form", ["s3", "scp"])
def test_reads_the_object_in_chunks(resolver: SourceResolver, s3_objects: dict[str, Any], form: str) -> None:
    bucket, expected = s3_objects["bucket"], s3_objects["objects"][BIG_KEY]
    url = f"s3://{bucket}/{BIG_KEY}" if form == "s3" else scp_url(bucket, BIG_KEY)
    source = resolver.open(url)
    assert source.total == len(expected)
    chunks = read_all(source)
    assert b"".join(chunks) == expected
    assert_chunked(chunks, MiB)
    assert len(chunks) == 6


def test_reads_an_object_stored_in_parts(resolver: SourceResolver, s3_objects: dict[str, Any]) -> None:
    source = resolver.open(f"s3://{s3_objects['bucket']}/{MULTIPART_KEY}")
    expected = s3_objects["objects"][MULTIPART_KEY]
    assert source.total == len(expected)
    chunks = read_all(source)
    assert b"".join(chunks) == expected
    assert_chunked(chunks, MiB)


def test_scp_url_key_is_percent_decoded(resolver: SourceResolver, s3_objects: dict[str, Any]) -> None:
    key = "dir/with space+plus.qcow2"
    source = resolver.open(scp_url(s3_objects["bucket"], key, region="kr-east1", env="s"))
    assert b"".join(read_all(source)) == s3_objects["objects"][key]


def test_chunk_size_comes_from_the_config(
    s3_config: Callable[..., SourceConfig], s3_objects: dict[str, Any]
) -> None:
    resolver = SourceResolver(s3_config(chunk_size=256 * 1024))
    chunks = read_all(resolver.open(f"s3://{s3_objects['bucket']}/{BIG_KEY}"))
    assert_chunked(chunks, 256 * 1024)
    assert b"".join(chunks) == s3_objects["objects"][BIG_KEY]


def test_one_resolver_serves_many_opens(resolver: SourceResolver, s3_objects: dict[str, Any]) -> None:
    bucket = s3_objects["bucket"]
    for _ in range(3):
        assert (
            b"".join(read_all(resolver.open(f"s3://{bucket}/small.qcow2")))
            == s3_objects["objects"]["small.qcow2"]
        )


@pytest.mark.parametrize("form", ["s3", "scp"])
def test_missing_object(resolver: SourceResolver, s3_objects: dict[str, Any], form: str) -> None:
    bucket = s3_objects["bucket"]
    url = f"s3://{bucket}/nope.qcow2" if form == "s3" else scp_url(bucket, "nope.qcow2")
    with pytest.raises(ImportSourceRejected, match=rf"the object s3://{bucket}/nope.qcow2 does not exist"):
        resolver.open(url)


def test_missing_bucket(resolver: SourceResolver) -> None:
    with pytest.raises(ImportSourceRejected, match="does not exist"):
        resolver.open("s3://no-such-bucket-here/x.qcow2")


@pytest.mark.parametrize(
    "credentials",
    [
        {"s3_access_key_id": LIST_ONLY_ACCESS_KEY_ID, "s3_secret_access_key": LIST_ONLY_SECRET_ACCESS_KEY},
        {"s3_secret_access_key": "not-the-secret"},
    ],
    ids=["may-list-only", "wrong-secret"],
)
def test_credentials_that_may_not_read_are_a_clear_refusal(
    s3_config: Callable[..., SourceConfig], s3_objects: dict[str, Any], credentials: dict[str, str]
) -> None:
    resolver = SourceResolver(s3_config(**credentials))
    url = f"s3://{s3_objects['bucket']}/small.qcow2"
    with pytest.raises(ImportSourceRejected, match=rf"credentials may not read {url}"):
        resolver.open(url)


def test_object_over_the_limit_is_refused_before_reading(
    s3_config: Callable[..., SourceConfig], s3_objects: dict[str, Any]
) -> None:
    resolver = SourceResolver(s3_config(max_bytes=5 * MiB))
    with pytest.raises(DiskImageRejected) as caught:
        resolver.open(f"s3://{s3_objects['bucket']}/{BIG_KEY}")
    assert caught.value.reason == "too_large"
    assert f"{5 * MiB + 123} bytes" in caught.value.message


def test_object_exactly_at_the_limit_is_read(
    s3_config: Callable[..., SourceConfig], s3_objects: dict[str, Any]
) -> None:
    expected = s3_objects["objects"][BIG_KEY]
    resolver = SourceResolver(s3_config(max_bytes=len(expected)))
    assert b"".join(read_all(resolver.open(f"s3://{s3_objects['bucket']}/{BIG_KEY}"))) == expected


@pytest.mark.parametrize(
    "missing",
    [
        {"s3_endpoint_url": None, "s3_access_key_id": None, "s3_secret_access_key": None},
        {"s3_endpoint_url": None},
        {"s3_secret_access_key": None},
    ],
)
def test_without_object_storage_config_check_and_open_refuse(
    s3_config: Callable[..., SourceConfig],
    s3_objects: dict[str, Any],
    missing: dict[str, None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The tenant hears there is no object storage and to upload instead; only the operator's log names
    the settings."""
    resolver = SourceResolver(s3_config(**missing))
    for url in (f"s3://{s3_objects['bucket']}/small.qcow2", scp_url(s3_objects["bucket"], "small.qcow2")):
        for step in (resolver.check, resolver.open):
            caplog.clear()
            with (
                caplog.at_level(logging.WARNING),
                pytest.raises(ImportSourceRejected, match="no object storage configured") as refused,
            ):
                step(url)
            assert "SCP_IMAGES_" not in str(refused.value) and "Upload the file instead" in str(refused.value)
            assert "SCP_IMAGES_S3_ENDPOINT_URL" in caplog.text


def test_unreachable_endpoint_is_a_clear_refusal(s3_config: Callable[..., SourceConfig]) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    resolver = SourceResolver(s3_config(s3_endpoint_url="http://127.0.0.1:9"))
    with pytest.raises(ImportSourceRejected, match="object storage could not be reached"):
        resolver.open("s3://bucket/x.qcow2")


def test_a_presigned_url_is_an_https_source_whose_signature_is_never_shown(
    http_resolver: Callable[..., SourceResolver], s3_objects: dict[str, Any], s3_endpoint: str
) -> None:
    # Object storage may hand out presigned URLs: they are plain allowlisted http(s) sources to this service.
    bucket, expected = s3_objects["bucket"], s3_objects["objects"][BIG_KEY]
    resolver = http_resolver((s3_endpoint.removeprefix("http://"),), max_bytes=64 * MiB)
    signer = make_s3_client(s3_endpoint, Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    params = {"Bucket": bucket, "Key": BIG_KEY}
    url = signer.generate_presigned_url("get_object", Params=params, ExpiresIn=300)
    assert "X-Amz-Signature=" in url
    assert b"".join(read_all(resolver.open(url))) == expected
    forged = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    with pytest.raises(ImportSourceRejected) as caught:
        resolver.open(forged)
    reason = caught.value.params["reason"]
    assert reason.startswith("the server answered 403")
    assert reason.endswith(f"/{bucket}/{BIG_KEY}?...")  # the signature stays out of the stored reason
