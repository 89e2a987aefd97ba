"""Uploads cannot starve the API, and an interrupted one can be sent again: a client that disconnects or
stalls leaves its image queued and no staged bytes; transfers past the limit get 503 with Retry-After;
slow uploads do not hold the thread pool other requests need."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scp_images.config import Settings
from tests.api.helpers import file_digests, wait_status
from tests.races.helpers import read_status, signed_put
from tests.support.stack import Key, Stack, start_stack
from tests.support.tools import wait_until


def make_stack(settings: Settings, **changes: Any) -> Stack:
    return start_stack(settings.model_copy(update={"import_heartbeat_seconds": 0.2, **changes}))


@pytest.fixture
def upload_stack(settings: Settings) -> Iterator[Stack]:
    stack = make_stack(settings, body_read_timeout_seconds=1.0)
    yield stack
    stack.stop()


def queued(stack: Stack, key: Key) -> str:
    body = {"name": "upload", "os_distro": "ubuntu"}
    created = stack.request("POST", "/v1/images", key, params={"source": "upload"}, json=body)
    assert created.status_code == 200, created.text
    return str(created.json()["id"])


def staged_left(stack: Stack) -> list[Any]:
    return list(stack.components.blobs.staged()) + list(stack.components.blobs.blobs())


@pytest.mark.parametrize("how", ["disconnect", "stall"])
def test_an_interrupted_upload_leaves_the_image_queued_and_can_be_sent_again(
    upload_stack: Stack, make_qcow2: Any, how: str
) -> None:
    stack = upload_stack
    key = stack.new_account("uploader")
    image_id = queued(stack, key)
    data = make_qcow2().read_bytes()
    sock, _ = signed_put(stack.base_url, f"/v2/images/{image_id}/file", key, len(data))
    sock.sendall(data[: len(data) // 2])
    wait_status(stack, key, image_id, "importing")
    if how == "disconnect":
        sock.close()
    else:  # say nothing for longer than the body read timeout
        assert read_status(sock) == 408
        sock.close()
    wait_status(stack, key, image_id, "queued")
    job = stack.request("GET", f"/v1/images/{image_id}/import", key).json()
    assert job["status"] == "failed" and job["reason"].startswith("interrupted")
    wait_until(lambda: staged_left(stack) == [], what="the staged bytes removed", timeout=10)
    again = stack.request("PUT", f"/v2/images/{image_id}/file", key, content=data)
    assert again.status_code == 204, again.text
    shown = wait_status(stack, key, image_id, "active")
    assert shown["checksum"] == file_digests_bytes(data)


def file_digests_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.md5(data).hexdigest()


def test_transfers_past_the_limit_get_503_with_retry_after(settings: Settings, make_qcow2: Any) -> None:
    stack = make_stack(settings, max_transfers=2, body_read_timeout_seconds=30.0)
    try:
        key = stack.new_account("crowd")
        path = make_qcow2()
        data = path.read_bytes()
        active = queued(stack, key)
        assert stack.request("PUT", f"/v2/images/{active}/file", key, content=data).status_code == 204
        slow = []
        for _ in range(2):
            image_id = queued(stack, key)
            sock, _ = signed_put(stack.base_url, f"/v2/images/{image_id}/file", key, len(data))
            sock.sendall(data[:1000])
            slow.append((sock, image_id))
        for _, image_id in slow:
            wait_status(stack, key, image_id, "importing")
        third = stack.request("PUT", f"/v2/images/{queued(stack, key)}/file", key, content=data)
        download = stack.request("GET", f"/v2/images/{active}/file", key)
        for refused in (third, download):
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"]
            assert refused.json()["errors"][0]["code"] == "virtualserver.Unavailable"
        for sock, _ in slow:
            sock.sendall(data[1000:])
            assert read_status(sock) == 204
            sock.close()
        download = stack.request("GET", f"/v2/images/{active}/file", key)
        assert download.status_code == 200 and download.content == data
        assert file_digests(path)[0] == download.headers["ETag"].strip('"')
    finally:
        stack.stop()


def test_slow_uploads_do_not_hold_the_thread_pool(settings: Settings, make_qcow2: Any) -> None:
    """More stalled uploads than the default thread pool has threads (40): other requests still answer."""
    stack = make_stack(settings, max_transfers=64, body_read_timeout_seconds=60.0)
    socks = []
    try:
        key = stack.new_account("stall")
        data = make_qcow2().read_bytes()
        ids = [queued(stack, key) for _ in range(44)]
        for image_id in ids:
            sock, _ = signed_put(stack.base_url, f"/v2/images/{image_id}/file", key, len(data))
            sock.sendall(data[:1000])
            socks.append(sock)
        for image_id in ids:
            wait_status(stack, key, image_id, "importing")
        started = time.monotonic()
        # Plain (sync) routes run on the default thread pool.
        pending = stack.request("GET", "/v1/pending-images", key)
        member_list = stack.request("GET", f"/v1/images/{ids[0]}/members", key)
        assert (pending.status_code, member_list.status_code) == (200, 200)
        assert time.monotonic() - started < 10
    except httpx.ReadTimeout as exc:
        raise AssertionError("a plain request waited behind the stalled uploads") from exc
    finally:
        for sock in socks:
            sock.close()
        stack.stop()
