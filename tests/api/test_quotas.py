"""Quotas per account over HTTP: image counts held atomically under parallel creates (SQLite, PostgreSQL,
two server processes on one database), concurrent transfers, and bytes stopped the moment an upload or an
import crosses image_size_total, on the filesystem and the S3 (SeaweedFS) blob stores."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scp_images.client import QuotaExceededError
from scp_images.config import Settings
from scp_images.domain.quotas import UNLIMITED, Overrides
from scp_images.signing import sign_request
from tests.api.conftest import s3_settings
from tests.api.helpers import wait_status
from tests.races.helpers import read_status, signed_put
from tests.support.process import ServerProcess, settings_env
from tests.support.s3 import drop_bucket
from tests.support.stack import Key, Stack, start_stack
from tests.support.tools import run_tool, wait_until

MiB = 1 << 20
STEP = 256 << 10
COUNT = "virtualserver.quota.ImageCountTotalExceeded"
SIZE = "virtualserver.quota.ImageSizeTotalExceeded"
UPLOADING = "virtualserver.quota.ImageCountUploadingExceeded"


@pytest.fixture(params=["file", "s3"])
def quota_stack(
    request: pytest.FixtureRequest, settings: Settings, s3_endpoint: str, s3: Any
) -> Iterator[Stack]:
    """Small reservation steps, image data on the filesystem or in SeaweedFS."""
    more: dict[str, Any] = {"quota_step_bytes": STEP, "body_read_timeout_seconds": 20.0}
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


def limit(stack: Stack, key: Key, **values: int) -> None:
    """What ``scp-images admin quota set`` does, in-process."""
    stack.components.quotas.set(key.account_id, Overrides(**values))


def create(stack: Stack, key: Key, language: str = "en-US") -> httpx.Response:
    body = {"name": "q", "os_distro": "ubuntu"}
    headers = {"Accept-Language": language}
    return stack.request("POST", "/v1/images", key, params={"source": "upload"}, json=body, headers=headers)


def error_of(response: httpx.Response, code: str) -> dict[str, Any]:
    assert response.status_code == 413, response.text
    error: dict[str, Any] = response.json()["errors"][0]
    assert (error["status"], error["code"], error["title"]) == (413, code, "Payload Too Large")
    assert error["request_id"] == response.headers["x-request-id"]
    return error


def qcow2_with(tmp_path: Path, name: str, data_mib: int) -> Path:
    """A real qcow2 holding ``data_mib`` MiB of data (its file a little larger)."""
    path = tmp_path / name
    run_tool("qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M")
    run_tool("qemu-io", "-c", f"write -P 0x5a 0 {data_mib}M", str(path))
    return path


def show(stack: Stack, key: Key, image_id: str) -> dict[str, Any]:
    return stack.request("GET", f"/v1/images/{image_id}", key).json()  # type: ignore[no-any-return]


def reason(stack: Stack, key: Key, image_id: str) -> str:
    return str(stack.request("GET", f"/v1/images/{image_id}/import", key).json()["reason"])


def queued(stack: Stack, key: Key) -> str:
    response = create(stack, key)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def nothing_stored(stack: Stack) -> bool:
    return not list(stack.components.blobs.staged()) and not list(stack.components.blobs.blobs())


def in_parallel(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls on threads released together; returns what each returned or raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # the test looks at them
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def signed_create(base_url: str, key: Key) -> int:
    """A create on a connection of its own (each thread its own client)."""
    url = base_url + "/v1/images?source=upload"
    headers = sign_request("POST", url, key.access_key, key.secret_key).as_dict()
    headers["Scp-Api-Version"] = "virtualserver 1.3"
    with httpx.Client(timeout=60) as http:
        return http.post(url, json={"name": "race", "os_distro": "ubuntu"}, headers=headers).status_code


def image_count(stack: Stack, key: Key) -> int:
    return stack.components.quotas.show(key.account_id).usage.images


# --- image_count_total ---------------------------------------------------------------------------------


def test_twenty_parallel_creates_against_five_leave_exactly_five(stack: Stack) -> None:
    key = stack.new_account("racer")
    limit(stack, key, images=5)
    codes = in_parallel([lambda: signed_create(stack.base_url, key) for _ in range(20)])
    assert sorted(codes) == [200] * 5 + [413] * 15
    assert image_count(stack, key) == 5
    listed = stack.request("GET", "/v1/images", key, params={"visibility": "private"}).json()
    assert len(listed["images"]) == 5


def test_two_server_processes_on_one_postgres_hold_the_limit(postgres_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url, run_import_jobs=False)
    setup = start_stack(settings)  # only for its components: the account and the quota
    servers: list[ServerProcess] = []
    try:
        key = setup.new_account("two-servers")
        limit(setup, key, images=5)
        env = settings_env(settings)
        servers = [ServerProcess(env, tmp_path / f"serve-{n}.log") for n in range(2)]
        calls = [lambda url=servers[i % 2].base_url: signed_create(url, key) for i in range(20)]
        codes = in_parallel(calls)
        assert sorted(codes) == [200] * 5 + [413] * 15
        assert image_count(setup, key) == 5
    finally:
        for server in servers:
            server.stop()
        setup.stop()


def test_the_413_names_limit_and_usage_in_english_and_korean(stack: Stack) -> None:
    key = stack.new_account("counted")
    limit(stack, key, images=2)
    queued(stack, key), queued(stack, key)
    english = error_of(create(stack, key), COUNT)
    korean = error_of(create(stack, key, "ko-KR"), COUNT)
    assert english["detail"].startswith(
        "Quota image_count_total exceeded: this account may have 2 images and has 2. Delete images"
    )
    assert korean["detail"].startswith(
        "할당량 image_count_total을 초과했습니다: "
        "이 계정은 이미지를 2개까지 가질 수 있으며 현재 2개가 있습니다."
    )
    assert image_count(stack, key) == 2
    limit(stack, key, images=UNLIMITED)
    assert create(stack, key).status_code == 200


def test_the_sdk_raises_quota_exceeded_with_code_and_text(stack: Stack) -> None:
    key = stack.new_account("sdk")
    limit(stack, key, images=0)
    with stack.client(key) as client, pytest.raises(QuotaExceededError) as refused:
        client.images.create("nope", "ubuntu")
    assert (refused.value.status, refused.value.code) == (413, COUNT)
    assert "image_count_total" in refused.value.detail and "0 images and has 0" in refused.value.detail
    assert str(refused.value).startswith(f"413 {COUNT}: Quota image_count_total exceeded")


def test_deleting_an_image_makes_room_again(stack: Stack) -> None:
    key = stack.new_account("room")
    limit(stack, key, images=1)
    first = queued(stack, key)
    error_of(create(stack, key), COUNT)
    assert stack.request("DELETE", f"/v1/images/{first}", key).status_code in (200, 202, 204)
    assert create(stack, key).status_code == 200


# --- image_count_uploading ---------------------------------------------------------------------------


def test_a_second_upload_at_once_is_refused_and_the_image_stays_queued(
    stack: Stack, make_qcow2: Callable[..., Path]
) -> None:
    key = stack.new_account("uploads")
    limit(stack, key, uploading=1)
    data = make_qcow2().read_bytes()
    first, second = queued(stack, key), queued(stack, key)
    sock, _ = signed_put(stack.base_url, f"/v2/images/{first}/file", key, len(data))
    try:
        sock.sendall(data[:1000])
        wait_status(stack, key, first, "importing")
        error = error_of(stack.request("PUT", f"/v2/images/{second}/file", key, content=data), UPLOADING)
        assert "may run 1 imports and uploads at once and runs 1" in error["detail"]
        assert show(stack, key, second)["status"] == "queued"
        sock.sendall(data[1000:])
        assert read_status(sock) == 204
    finally:
        sock.close()
    assert stack.request("PUT", f"/v2/images/{second}/file", key, content=data).status_code == 204
    assert stack.components.quotas.show(key.account_id).usage.uploading == 0


# --- image_size_total ------------------------------------------------------------------------------


def test_an_upload_crossing_the_bytes_is_killed_mid_stream_leaving_nothing(
    quota_stack: Stack, tmp_path: Path
) -> None:
    """The client has sent 3 of 5 MiB when the image is already killed: the upload stopped where it
    crossed the 1.5 MiB limit, not after it was stored."""
    stack = quota_stack
    key = stack.new_account("big")
    limit(stack, key, bytes=3 * MiB // 2)
    data = qcow2_with(tmp_path, "big.qcow2", 5).read_bytes()
    image_id = queued(stack, key)
    sock, _ = signed_put(stack.base_url, f"/v2/images/{image_id}/file", key, len(data))
    try:
        sock.sendall(data[: 3 * MiB])
        wait_status(stack, key, image_id, "killed")
        assert read_status(sock) in (413, None)  # the answer may be lost to the reset of the unread rest
    finally:
        sock.close()
    assert reason(stack, key, image_id).startswith("quota_exceeded: Quota image_size_total exceeded:")
    wait_until(lambda: nothing_stored(stack), what="the staged bytes to be removed")
    usage = stack.components.quotas.show(key.account_id).usage
    assert (usage.bytes, usage.uploading) == (0, 0)


def test_an_upload_refused_at_its_last_chunk_answers_413_and_kills(
    quota_stack: Stack, make_qcow2: Callable[..., Path]
) -> None:
    stack = quota_stack
    key = stack.new_account("last-chunk")
    path = make_qcow2()
    size = path.stat().st_size
    limit(stack, key, bytes=size - 1)
    image_id = queued(stack, key)
    with stack.client(key) as client, pytest.raises(QuotaExceededError) as refused:
        client.images.upload(image_id, path)
    assert refused.value.code == SIZE
    assert f"may store {size - 1} bytes and this would make {size} bytes" in refused.value.detail
    assert show(stack, key, image_id)["status"] == "killed"
    stored = reason(stack, key, image_id)  # its code, what happened (as the 413 said), the next step
    assert stored.startswith("quota_exceeded: Quota image_size_total exceeded: ")
    assert f"may store {size - 1} bytes and this would make {size} bytes" in stored
    assert nothing_stored(stack)
    limit(stack, key, bytes=size)  # exactly enough: the same file fits
    again = queued(stack, key)
    with stack.client(key) as client:
        client.images.upload(again, path)
    assert show(stack, key, again)["status"] == "active"
    full = stack.request("PUT", f"/v2/images/{queued(stack, key)}/file", key, content=path.read_bytes())
    error_of(full, SIZE)  # no byte left: refused before the upload starts


def test_bytes_held_by_an_upload_in_flight_count_for_the_next(quota_stack: Stack, tmp_path: Path) -> None:
    """Two uploads of one account, each fitting alone, both not: while the first is in flight (holding
    its reservation), the second is refused where it would pass the limit; the first then completes."""
    stack = quota_stack
    key = stack.new_account("pair")
    limit(stack, key, bytes=3 * MiB)
    first_data = qcow2_with(tmp_path, "a.qcow2", 2).read_bytes()
    second_path = qcow2_with(tmp_path, "b.qcow2", 2)
    first, second = queued(stack, key), queued(stack, key)
    sock, _ = signed_put(stack.base_url, f"/v2/images/{first}/file", key, len(first_data))
    try:
        sock.sendall(first_data[: MiB + MiB // 5])
        wait_until(
            lambda: stack.components.quotas.show(key.account_id).usage.bytes >= MiB,
            what="the first upload to reserve its bytes",
        )
        with stack.client(key) as client, pytest.raises(QuotaExceededError) as refused:
            client.images.upload(second, second_path)
        assert refused.value.code == SIZE
        sock.sendall(first_data[MiB + MiB // 5 :])
        assert read_status(sock) == 204
    finally:
        sock.close()
    assert show(stack, key, first)["status"] == "active"
    assert show(stack, key, second)["status"] == "killed"
    usage = stack.components.quotas.show(key.account_id).usage
    assert usage.bytes == len(first_data) <= 3 * MiB


def test_parallel_uploads_of_one_account_never_store_past_the_limit(
    quota_stack: Stack, tmp_path: Path
) -> None:
    stack = quota_stack
    key = stack.new_account("crowd")
    paths = [qcow2_with(tmp_path, f"p{n}.qcow2", 2) for n in range(4)]
    allowed = 5 * MiB  # two fit, four do not
    limit(stack, key, bytes=allowed)
    ids = [queued(stack, key) for _ in paths]

    def upload(image_id: str, path: Path) -> None:
        with stack.client(key) as client:
            client.images.upload(image_id, path)

    results = in_parallel([lambda i=i, p=p: upload(i, p) for i, p in zip(ids, paths, strict=True)])
    statuses = [show(stack, key, image_id)["status"] for image_id in ids]
    assert set(statuses) <= {"active", "killed", "queued"}  # queued: refused before it started
    for image_id, result, status in zip(ids, results, statuses, strict=True):
        assert (result is None) == (status == "active"), results
        if status != "active":
            assert isinstance(result, QuotaExceededError) and result.code == SIZE, results
        if status == "killed":
            assert reason(stack, key, image_id).startswith("quota_exceeded: Quota image_size_total exceeded:")
    stored = sum(
        show(stack, key, i)["size"] or 0 for i, s in zip(ids, statuses, strict=True) if s == "active"
    )
    assert 0 < stored <= allowed
    assert stack.components.quotas.show(key.account_id).usage.bytes == stored
    assert len(list(stack.components.blobs.blobs())) == statuses.count("active")
    assert not list(stack.components.blobs.staged())


def test_an_import_crossing_the_bytes_is_killed_leaving_nothing(
    quota_stack: Stack, s3: Any, make_qcow2: Callable[..., Path]
) -> None:
    stack = quota_stack
    source = f"src-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=source)
    try:
        key = stack.new_account("importer")
        stack.grant(key, source)
        path = make_qcow2()
        s3.upload_file(str(path), source, "disk.qcow2")
        limit(stack, key, bytes=path.stat().st_size // 2)
        body = {"name": "imported", "os_distro": "ubuntu", "url": f"s3://{source}/disk.qcow2"}
        created = stack.request("POST", "/v1/images", key, json=body)
        assert created.status_code == 200, created.text
        image_id = created.json()["id"]
        wait_status(stack, key, image_id, "killed", "active")
        assert show(stack, key, image_id)["status"] == "killed"
        assert reason(stack, key, image_id).startswith("quota_exceeded: Quota image_size_total exceeded:")
        wait_until(lambda: nothing_stored(stack), what="the staged bytes to be removed")
        limit(stack, key, uploading=0)
        error_of(stack.request("POST", "/v1/images", key, json=body), UPLOADING)
        error_of(stack.request("POST", f"/v1/images/{image_id}/import", key, json=body), UPLOADING)
        assert show(stack, key, image_id)["status"] == "killed"  # left as it was
    finally:
        drop_bucket(s3, source)


def test_defaults_come_from_the_settings(settings: Settings) -> None:
    running = start_stack(settings.model_copy(update={"quota_image_count_total": 1}))
    try:
        key = running.new_account("defaults")
        assert create(running, key).status_code == 200
        error_of(create(running, key), COUNT)
        limit(running, key, images=2)
        assert create(running, key).status_code == 200
        running.components.quotas.reset(key.account_id)
        error_of(create(running, key), COUNT)
    finally:
        running.stop()
