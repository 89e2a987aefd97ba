"""The orphan sweep against live writes: a sweep that took its snapshot before a write began must still
leave the write's blob alone, committed or staged (multipart on S3), in this process or from another."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scp_images.app import Components, build_components
from scp_images.config import Settings
from scp_images.store.blob.s3 import MIN_PART_SIZE, S3BlobStore
from tests.api.conftest import s3_settings
from tests.api.helpers import file_digests
from tests.conftest import run
from tests.races.helpers import Gate, PausingBlobStore, read_status, signed_put
from tests.support.process import ServerProcess, settings_env
from tests.support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY
from tests.support.stack import Key, Stack, start_stack
from tests.support.tools import wait_until

MiB = 1 << 20
REPO = Path(__file__).resolve().parents[2]


def qcow2_with_data(tmp_path: Path, megabytes: int) -> Path:
    path = tmp_path / f"data-{megabytes}.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M")
    run("qemu-io", "-c", f"write -P 0x3c 0 {megabytes}M", str(path))
    return path


def _inner_store(kind: str, settings: Settings, s3: Any) -> Any:
    if kind == "file":
        return build_components(settings).blobs
    bucket = f"race-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    # The smallest part S3 allows, so a few MiB already make a multipart upload.
    return S3BlobStore(
        bucket,
        "images",
        endpoint_url=settings.s3_endpoint_url,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        region=REGION,
        part_size=MIN_PART_SIZE,
    )


@pytest.fixture(params=["file", "s3"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def race_settings(settings: Settings, s3_endpoint: str) -> Settings:
    # No grace at all: only the ownership rule stands between the sweep and a live write.
    return s3_settings(settings, s3_endpoint, orphan_grace_seconds=0.0, run_import_jobs=False)


@pytest.fixture
def served(kind: str, race_settings: Settings, s3: Any) -> Iterator[tuple[Stack, PausingBlobStore]]:
    store = PausingBlobStore(_inner_store(kind, race_settings, s3))
    stack = start_stack(race_settings, blobs=store)
    yield stack, store
    stack.stop()


def _sweeper(stack: Stack) -> tuple[Components, PausingBlobStore]:
    """A second process's view: its own engine, and a store that stops before it lists."""
    store = PausingBlobStore(stack.components.blobs._inner)  # type: ignore[attr-defined]
    return build_components(stack.settings, blobs=store), store


def _queued_upload(stack: Stack, key: Key) -> str:
    body = {"name": "raced", "os_distro": "ubuntu"}
    created = stack.request("POST", "/v1/images", key, params={"source": "upload"}, json=body)
    assert created.status_code == 200, created.text
    return str(created.json()["id"])


def _race(stack: Stack, store: PausingBlobStore, path: Path, gate_attr: str) -> tuple[int, int]:
    """Start a sweep (snapshot taken, listing held), then an upload up to ``gate_attr``, then let the
    sweep list and decide, then let the upload finish. Returns (removed by the sweep, upload status)."""
    key = stack.new_account("racer")
    image_id = _queued_upload(stack, key)
    sweeper, sweeper_store = _sweeper(stack)
    listing, writing = Gate(), Gate()
    sweeper_store.before_listing = listing
    removed: list[int] = []
    sweep = threading.Thread(target=lambda: removed.append(sweeper.recovery.sweep_orphans()))
    sweep.start()
    listing.wait_reached()
    setattr(store, gate_attr, writing)
    statuses: list[int] = []
    data = path.read_bytes()
    upload = threading.Thread(
        target=lambda: statuses.append(
            stack.request("PUT", f"/v2/images/{image_id}/file", key, content=data).status_code
        )
    )
    upload.start()
    writing.wait_reached()
    listing.opened.set()
    sweep.join(30)
    writing.opened.set()
    upload.join(60)
    sweeper.close()
    shown = stack.request("GET", f"/v1/images/{image_id}", key).json()
    assert (shown["status"], shown["checksum"]) == ("active", file_digests(path)[0])
    download = stack.request("GET", f"/v2/images/{image_id}/file", key)
    assert download.status_code == 200 and download.content == data
    return removed[0], statuses[0]


def test_sweep_keeps_a_blob_committed_but_not_yet_published(
    served: tuple[Stack, PausingBlobStore], tmp_path: Path
) -> None:
    stack, store = served
    assert _race(stack, store, qcow2_with_data(tmp_path, 2), "after_commit") == (0, 204)


def test_sweep_keeps_a_staged_upload_in_flight(
    served: tuple[Stack, PausingBlobStore], tmp_path: Path
) -> None:
    stack, store = served
    store.after_write_bytes = 2 * MIN_PART_SIZE  # S3: parts have been sent, the multipart upload is open
    assert _race(stack, store, qcow2_with_data(tmp_path, 12), "after_write") == (0, 204)


def test_sweep_removes_what_nobody_owns(served: tuple[Stack, PausingBlobStore]) -> None:
    stack, store = served
    with store.writer("images/0b7e6a4c-2f9d-4c55-9d1e-3a4f1c2b9e10/deadbeef") as writer:
        writer.write(b"left by a crash between the row delete and the blob delete")
        writer.commit()
    abandoned = store.writer("images/0b7e6a4c-2f9d-4c55-9d1e-3a4f1c2b9e10/cafe")
    abandoned.write(b"x" * (MIN_PART_SIZE + 1))
    assert stack.components.recovery.sweep_orphans() == 2
    assert list(store.blobs()) == [] and list(store.staged()) == []


def test_another_process_starting_up_keeps_an_upload_in_flight(
    kind: str, race_settings: Settings, s3: Any, tmp_path: Path
) -> None:
    """Real processes: a server mid-upload, and another process running its start-up repair."""
    more: dict[str, Any] = {}
    if kind == "s3":
        bucket = f"race-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket)
        more["blob_url"] = f"s3://{bucket}/images"
    settings = race_settings.model_copy(update=more)
    env = settings_env(settings)
    parts = build_components(settings)
    account = parts.accounts.create_account("proc")
    record = parts.accounts.create_key(account.id, "proc@example.com")
    parts.close()
    key = Key(record.access_key, record.secret_key, account.id, record.user_name)
    path = qcow2_with_data(tmp_path, 24)  # past the S3 store's 16 MiB part: a multipart upload is open
    data = path.read_bytes()
    server = ServerProcess(env, tmp_path / "server.log")
    try:
        created = httpx.post(
            server.base_url + "/v1/images?source=upload",
            json={"name": "proc", "os_distro": "ubuntu"},
            headers=_signed(server.base_url + "/v1/images?source=upload", "POST", key),
        )
        image_id = created.json()["id"]
        sock, _ = signed_put(server.base_url, f"/v2/images/{image_id}/file", key, len(data))
        half = 20 * MiB
        sock.sendall(data[:half])
        _wait_staged(settings)
        done = subprocess.run(
            [sys.executable, "-m", "tests.races.repair_once"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (done.returncode, done.stdout.strip()) == (0, "0"), done.stderr
        sock.sendall(data[half:])
        assert read_status(sock) == 204
        sock.close()
        url = server.base_url + f"/v1/images/{image_id}"
        shown = httpx.get(url, headers=_signed(url, "GET", key)).json()
        assert (shown["status"], shown["checksum"]) == ("active", file_digests(path)[0])
    finally:
        server.stop()


def _signed(url: str, method: str, key: Key) -> dict[str, str]:
    from scp_images.signing import sign_request

    return sign_request(method, url, key.access_key, key.secret_key).as_dict()


def _wait_staged(settings: Settings) -> None:
    """Until the upload's bytes are staged (on S3: its multipart upload is open)."""
    parts = build_components(settings)
    try:
        wait_until(lambda: list(parts.blobs.staged()), what="the upload staged", timeout=60, interval=0.1)
    finally:
        parts.close()
