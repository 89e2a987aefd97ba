"""Downloads when the image store fails: an outage is a 503 with Retry-After; an active image whose bytes
are gone is a 409 ``virtualserver.image.DataMissing`` with an ERROR log line and a counter. On the
filesystem store and on S3 (moto), never an unhandled exception."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scp_images.config import Settings
from scp_images.domain.errors import ImageNotFound
from scp_images.store.sql import images as image_store
from tests.api.conftest import s3_settings
from tests.api.helpers import publish
from tests.support.s3 import s3_client, start_moto_server
from tests.support.stack import Key, Stack, start_stack

MISSING = "virtualserver.image.DataMissing"


def _file(stack: Stack, key: Key, image_id: str, **headers: str) -> httpx.Response:
    return stack.request("GET", f"/v2/images/{image_id}/file", key, headers=headers)


def _blob_key(stack: Stack, image_id: str) -> str:
    with stack.components.db.transaction() as conn:
        image = image_store.get_image(conn, image_id)
    assert image is not None and image.blob_key
    return image.blob_key


def _missing_counter(stack: Stack) -> float:
    text = stack.http.get(stack.base_url + "/metrics").text
    line = next(x for x in text.splitlines() if x.startswith("scp_images_image_data_missing_total "))
    return float(line.split()[1])


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["errors"][0]["code"] == "virtualserver.Unavailable"


def _assert_data_missing(
    stack: Stack, owner: Key, image_id: str, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="scp_images.downloads"):
        response = _file(stack, owner, image_id)
    assert response.status_code == 409, response.text
    item = response.json()["errors"][0]
    assert item["code"] == MISSING and image_id in item["detail"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "scp_images.downloads"]
    assert len(errors) == 1 and image_id in errors[0].getMessage() and key in errors[0].getMessage()
    korean = _file(stack, owner, image_id, **{"Accept-Language": "ko-KR"})
    assert korean.status_code == 409 and "데이터" in korean.json()["errors"][0]["detail"]
    ranged = _file(stack, owner, image_id, Range="bytes=0-9")
    assert ranged.status_code == 409 and ranged.json()["errors"][0]["code"] == MISSING
    assert _missing_counter(stack) == 3
    # Show still works: the image is listed as it is; only its bytes are refused.
    assert stack.request("GET", f"/v1/images/{image_id}", owner).json()["status"] == "active"


# --- filesystem --------------------------------------------------------------------------------------


@pytest.fixture
def active(stack: Stack, make_qcow2: Any) -> tuple[Key, str]:
    owner = stack.new_account("owner")
    image = publish(stack, make_qcow2("d.qcow2", "8M"), owner.account_id)
    assert _file(stack, owner, image["id"]).status_code == 200
    return owner, str(image["id"])


def _blob_root(stack: Stack) -> Path:
    return Path(stack.components.blobs.root)  # type: ignore[attr-defined]


def test_deleted_file_is_409_data_missing(
    stack: Stack, active: tuple[Key, str], caplog: pytest.LogCaptureFixture
) -> None:
    owner, image_id = active
    key = _blob_key(stack, image_id)
    (_blob_root(stack) / key).unlink()
    _assert_data_missing(stack, owner, image_id, key, caplog)


def test_vanished_store_root_is_503_not_data_missing(stack: Stack, active: tuple[Key, str]) -> None:
    """An unmounted volume looks like a missing file; the store's own check tells the two apart."""
    owner, image_id = active
    root = _blob_root(stack)
    moved = root.with_name("blobs-away")
    root.rename(moved)
    try:
        _assert_unavailable(_file(stack, owner, image_id))
        _assert_unavailable(_file(stack, owner, image_id, Range="bytes=0-9"))
        assert _missing_counter(stack) == 0
    finally:
        moved.rename(root)
    assert _file(stack, owner, image_id).status_code == 200


def test_unreadable_blob_is_503(stack: Stack, active: tuple[Key, str]) -> None:
    """An open() that fails for another reason than "no such file" (EACCES, EIO, ELOOP): the store is
    unavailable. Tests run as root, where chmod does not deny, so a symlink loop stands in for it."""
    owner, image_id = active
    path = _blob_root(stack) / _blob_key(stack, image_id)
    kept = path.with_name("kept")
    path.rename(kept)
    os.symlink(path.name, path)  # points at itself: open() fails with ELOOP
    try:
        _assert_unavailable(_file(stack, owner, image_id))
    finally:
        path.unlink()
        kept.rename(path)
    assert _file(stack, owner, image_id).status_code == 200


def test_image_deleted_during_a_download_is_404(stack: Stack, active: tuple[Key, str]) -> None:
    """The row was read, then the owner deleted the image (row, then bytes): not an operator alarm."""
    owner, image_id = active
    principal = stack.components.accounts.list_keys(owner.account_id)[0].principal()
    download = stack.components.images.download(principal, image_id)
    stack.components.images.delete(principal, image_id)
    with pytest.raises(ImageNotFound):
        download.read(0, None)
    assert _missing_counter(stack) == 0


# --- S3 ----------------------------------------------------------------------------------------------


@pytest.fixture
def s3_stack(settings: Settings) -> Iterator[tuple[Stack, str, Any]]:
    """A stack whose blob store is a moto server of its own, so the test may stop it."""
    endpoint, stop = start_moto_server()
    s3 = s3_client(endpoint)
    bucket = f"blobs-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)
    running = start_stack(s3_settings(settings, endpoint, blob_url=f"s3://{bucket}/store"))
    try:
        yield running, bucket, (s3, stop)
    finally:
        running.stop()
        stop()


def _s3_active(stack: Stack, make_qcow2: Any) -> tuple[Key, str]:
    owner = stack.new_account("owner")
    image = publish(stack, make_qcow2("s3.qcow2", "8M"), owner.account_id)
    assert _file(stack, owner, image["id"]).status_code == 200
    return owner, str(image["id"])


def test_s3_object_gone_is_409_data_missing(
    s3_stack: tuple[Stack, str, Any], make_qcow2: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stack, bucket, (s3, _) = s3_stack
    owner, image_id = _s3_active(stack, make_qcow2)
    key = _blob_key(stack, image_id)
    s3.delete_object(Bucket=bucket, Key=f"store/{key}")
    _assert_data_missing(stack, owner, image_id, key, caplog)


def test_s3_outage_is_503(s3_stack: tuple[Stack, str, Any], make_qcow2: Any) -> None:
    stack, _, (_, stop) = s3_stack
    owner, image_id = _s3_active(stack, make_qcow2)
    stop()
    _assert_unavailable(_file(stack, owner, image_id, Range="bytes=0-9"))
    assert _missing_counter(stack) == 0


def test_s3_bucket_gone_is_503(s3_stack: tuple[Stack, str, Any], make_qcow2: Any) -> None:
    """A missing bucket is the store's problem (misconfiguration), not one image's missing data."""
    stack, bucket, (s3, _) = s3_stack
    owner, image_id = _s3_active(stack, make_qcow2)
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])
    s3.delete_bucket(Bucket=bucket)
    _assert_unavailable(_file(stack, owner, image_id))
    assert _missing_counter(stack) == 0
