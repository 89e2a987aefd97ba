"""SCP_IMAGES_DOWNLOAD_REDIRECT with the S3 blob store on SeaweedFS: ``GET /v2/images/{id}/file`` answers 307
to a short-lived presigned URL for the object store's public address (a recording proxy in front of
SeaweedFS), the SDK and the CLI follow it without SCP headers and still verify md5 and sha512, and the store
itself refuses the URL once it has expired."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from scp_images.app import build_components
from scp_images.client import IntegrityError
from scp_images.config import ConfigError, Settings
from scp_images.store.sql import images as image_store
from tests.api.conftest import s3_settings
from tests.cli.conftest import make_invoker
from tests.support.recording_proxy import RecordingProxy, recording_proxy
from tests.support.s3 import drop_bucket
from tests.support.stack import Key, Stack, start_stack
from tests.support.tools import wait_until

PREFIX = "images-store"
StackFactory = Callable[..., Stack]


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[RecordingProxy]:
    with recording_proxy(s3_endpoint) as running:
        yield running


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = f"redirect-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    drop_bucket(s3, name)


@pytest.fixture
def redirect_settings(tmp_path: Path, s3_endpoint: str, bucket: str, proxy: RecordingProxy) -> Settings:
    base = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'meta.db'}")
    return s3_settings(
        base,
        s3_endpoint,
        blob_url=f"s3://{bucket}/{PREFIX}",
        download_redirect=True,
        s3_public_endpoint_url=proxy.url,
    )


@pytest.fixture
def make_stack(redirect_settings: Settings) -> Iterator[StackFactory]:
    started: list[Stack] = []

    def make(**changes: Any) -> Stack:
        started.append(start_stack(redirect_settings.model_copy(update=changes)))
        return started[-1]

    yield make
    for stack in started:
        stack.stop()


@pytest.fixture
def stack(make_stack: StackFactory) -> Stack:
    return make_stack()


@pytest.fixture
def owner(stack: Stack) -> Key:
    return stack.new_account("owner")


@pytest.fixture
def disk(make_qcow2: Callable[..., Path]) -> Path:
    path: Path = make_qcow2("disk.qcow2", "16M")
    return path


@pytest.fixture
def image_id(stack: Stack, owner: Key, disk: Path) -> str:
    with stack.client(owner) as sdk:
        return sdk.images.create_from_file(disk, "redirected", "ubuntu").id


def _object_key(stack: Stack, image_id: str) -> str:
    with stack.components.db.transaction() as conn:
        image = image_store.get_image(conn, image_id)
    assert image is not None and image.blob_key
    return f"{PREFIX}/{image.blob_key}"


def _file(stack: Stack, key: Key, image_id: str, **headers: str) -> httpx.Response:
    return stack.request("GET", f"/v2/images/{image_id}/file", key, headers=headers)


def _assert_nothing_forwarded(proxy: RecordingProxy, object_key: str) -> list[str]:
    """Every request the object store got for the object: no SCP header, no Authorization; the presigned
    query is the only credential. Returns their methods."""
    seen = proxy.requests_for(object_key)
    assert seen, "nothing reached the object store's public address"
    for request in seen:
        assert not [name for name in request.headers if name.startswith("scp-")], request.headers
        assert "authorization" not in request.headers
        assert "X-Amz-Signature" in parse_qs(urlsplit(request.target).query)
    return [request.method for request in seen]


def test_download_answers_307_to_a_presigned_url_for_the_public_address(
    stack: Stack, owner: Key, image_id: str, disk: Path, proxy: RecordingProxy
) -> None:
    answer = _file(stack, owner, image_id)
    assert answer.status_code == 307, answer.text
    assert answer.content == b""
    assert answer.headers["Cache-Control"] == "no-store"
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == proxy.url  # not SCP_IMAGES_S3_ENDPOINT_URL
    assert location.path.endswith(_object_key(stack, image_id))
    query = parse_qs(location.query)
    assert query["X-Amz-Expires"] == ["60"] and "X-Amz-Signature" in query

    fetched = httpx.get(answer.headers["Location"], timeout=30)
    assert fetched.status_code == 200 and fetched.content == disk.read_bytes()
    # A ranged request gets the same redirect; the object store serves the range itself.
    ranged = _file(stack, owner, image_id, Range="bytes=10-19")
    assert ranged.status_code == 307
    part = httpx.get(ranged.headers["Location"], headers={"Range": "bytes=10-19"}, timeout=30)
    assert part.status_code == 206 and part.content == disk.read_bytes()[10:20]


def test_the_sdk_follows_without_scp_headers_and_gets_identical_bytes(
    stack: Stack, owner: Key, image_id: str, disk: Path, proxy: RecordingProxy, tmp_path: Path
) -> None:
    with stack.client(owner) as sdk:
        saved = sdk.images.download(image_id, tmp_path / "copy.qcow2")
    assert saved.read_bytes() == disk.read_bytes()
    assert _assert_nothing_forwarded(proxy, _object_key(stack, image_id)) == ["GET"]


def test_the_cli_follows_without_scp_headers_and_gets_identical_bytes(
    stack: Stack, owner: Key, image_id: str, disk: Path, proxy: RecordingProxy, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    target = tmp_path / "cli-copy.qcow2"
    result = make_invoker(stack, home)(owner, "download", image_id, "-o", str(target))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert target.read_bytes() == disk.read_bytes()
    assert _assert_nothing_forwarded(proxy, _object_key(stack, image_id)) == ["GET"]


def _tamper(s3: Any, bucket: str, object_key: str, how: str) -> None:
    data = bytearray(s3.get_object(Bucket=bucket, Key=object_key)["Body"].read())
    if how == "flipped":
        data[len(data) // 2] ^= 0xFF
    else:
        del data[-4096:]
    s3.put_object(Bucket=bucket, Key=object_key, Body=bytes(data))


@pytest.mark.parametrize(("how", "figure"), [("flipped", "md5"), ("short", "size")])
def test_a_tampered_object_fails_verification_in_the_sdk_and_the_cli(
    stack: Stack,
    owner: Key,
    image_id: str,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    how: str,
    figure: str,
) -> None:
    _tamper(s3, bucket, _object_key(stack, image_id), how)
    out = tmp_path / "out"
    out.mkdir()
    with stack.client(owner) as sdk, pytest.raises(IntegrityError) as corrupt:
        sdk.images.download(image_id, out / "copy.qcow2")
    assert figure in str(corrupt.value) and "sha512" in str(corrupt.value)
    home = tmp_path / "home"
    home.mkdir()
    result = make_invoker(stack, home)(owner, "download", image_id, "-o", str(out / "cli.qcow2"))
    assert result.exit_code == 1 and "corrupt" in result.stderr
    assert list(out.iterdir()) == []  # nothing partial kept by either


def _expires_at(url: str) -> float:
    query = parse_qs(urlsplit(url).query)
    signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed.timestamp() + int(query["X-Amz-Expires"][0])


def test_an_expired_url_is_refused_by_the_object_store(make_stack: StackFactory, disk: Path) -> None:
    stack = make_stack(download_redirect_seconds=1)
    owner = stack.new_account("owner")
    with stack.client(owner) as sdk:
        image_id = sdk.images.create_from_file(disk, "short-lived", "ubuntu").id
    location = _file(stack, owner, image_id).headers["Location"]
    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == ["1"]
    expires = _expires_at(location)
    wait_until(lambda: time.time() > expires + 1, what="the URL's expiry", timeout=30)
    refused = httpx.get(location, timeout=30)
    assert refused.status_code == 403, refused.text
    assert "AccessDenied" in refused.text or "expired" in refused.text.lower()


def test_a_missing_object_is_data_missing_not_a_redirect(
    stack: Stack, owner: Key, image_id: str, s3: Any, bucket: str
) -> None:
    s3.delete_object(Bucket=bucket, Key=_object_key(stack, image_id))
    answer = _file(stack, owner, image_id)
    assert answer.status_code == 409, answer.text
    assert answer.json()["errors"][0]["code"] == "virtualserver.image.DataMissing"


def test_a_download_link_redirects_too_and_the_store_names_the_file(
    stack: Stack, owner: Key, image_id: str, disk: Path, proxy: RecordingProxy
) -> None:
    link = stack.request("POST", f"/v1/images/{image_id}/download-link", owner).json()["url"]
    answer = httpx.get(link, timeout=30)
    assert answer.status_code == 307 and "Content-Disposition" not in answer.headers
    fetched = httpx.get(answer.headers["Location"], timeout=30)
    assert fetched.content == disk.read_bytes()
    assert fetched.headers["Content-Disposition"].startswith('attachment; filename="redirected.qcow2"')
    _assert_nothing_forwarded(proxy, _object_key(stack, image_id))


def test_on_the_filesystem_store_the_setting_does_nothing(tmp_path: Path, disk: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "fs", database_url=f"sqlite:///{tmp_path / 'fs.db'}", download_redirect=True
    )
    stack = start_stack(settings)
    try:
        owner = stack.new_account("owner")
        with stack.client(owner) as sdk:
            image_id = sdk.images.create_from_file(disk, "streamed", "ubuntu").id
        answer = _file(stack, owner, image_id)
        assert answer.status_code == 200 and answer.content == disk.read_bytes()
    finally:
        stack.stop()


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"blob_url": None, "s3_public_endpoint_url": "http://127.0.0.1:9"}, "not S3"),
        ({"s3_public_endpoint_url": "ftp://store.example"}, "http(s)://host"),
        ({"s3_public_endpoint_url": "http://store.example/?x=1"}, "http(s)://host"),
        ({"download_redirect_seconds": 0}, "1 to 3600"),
        ({"download_redirect_seconds": 86_400}, "1 to 3600"),
    ],
)
def test_nonsense_settings_are_refused_at_start_up(
    redirect_settings: Settings, changes: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        build_components(redirect_settings.model_copy(update=changes))
    assert named in str(refused.value)


def test_serve_stops_with_one_line_for_nonsense_settings(tmp_path: Path) -> None:
    env = {
        "SCP_IMAGES_DATA_DIR": str(tmp_path / "data"),
        "SCP_IMAGES_DATABASE_URL": "",
        "SCP_IMAGES_S3_PUBLIC_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    command = [sys.executable, "-m", "scp_images.cli", "serve", "--port", "0"]
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SCP_IMAGES_")}
    result = subprocess.run(command, env={**inherited, **env}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "SCP_IMAGES_S3_PUBLIC_ENDPOINT_URL is set but the blob store is not S3" in result.stderr
    assert "Traceback" not in result.stderr
