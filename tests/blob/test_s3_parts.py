"""The S3 store's multipart layout against SeaweedFS: parts grow on schedule (scaled down), large parts wait
in temporary files, at most two parts are in flight, the ceiling refuses the first byte too many, and a part
that fails mid-upload surfaces as BlobStoreUnavailable. Then two error answers SeaweedFS never gives (moto).
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from scp_images.store.blob import BlobNotFound, BlobStore, BlobStoreUnavailable, S3BlobStore
from scp_images.store.blob import s3 as s3_module
from scp_images.store.blob.s3_parts import MIN_PART_SIZE, Part
from tests.blob.conftest import make_s3_store
from tests.support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, s3_client

MiB = 1 << 20
KEY = "images/6f1c1a9e-3c1e-4d83-a7f4-0d9b1f6e2a11"
# Twenty parts in the budget: the size doubles every two parts (5, 5, 10, 10, 20, 20, 40 ... MiB), and parts
# above 8 MiB are spooled, so a 50 MiB blob shows three sizes and both kinds of buffer.
GROWING = {"part_size": MIN_PART_SIZE, "max_parts": 20, "spool_above": 8 * MiB}
GROWN_SIZES = [5 * MiB, 5 * MiB, 10 * MiB, 10 * MiB, 20 * MiB]


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def write_all(store: BlobStore, key: str, data: bytes, chunk: int = MiB + 7) -> None:
    with store.writer(key) as writer:
        view = memoryview(data)
        for start in range(0, len(data), chunk):
            writer.write(view[start : start + chunk])
        writer.commit()


def stored_part_sizes(client: Any, bucket: str, object_key: str) -> list[int]:
    """The parts as the server keeps them (HeadObject with PartNumber), not as the client meant them."""

    def head(number: int) -> Any:
        return client.head_object(Bucket=bucket, Key=object_key, PartNumber=number)

    count = int(head(1).get("PartsCount", 1))
    return [int(head(number)["ContentLength"]) for number in range(1, count + 1)]


class PartSpy:
    """Watches the store's part buffers: how many are alive at once, which were spooled, all freed?

    With ``hold_sends`` set to N parts, sending part n waits until part n + 2 exists (or the blob's last
    part does): a slow network, made deterministic, so the writer runs as far ahead as it is allowed to.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.parts: list[Part] = []
        self.alive = 0
        self.most_alive = 0
        self.hold_sends = 0

    def opened(self, part: Part) -> None:
        with self._changed:
            self.parts.append(part)
            self.alive += 1
            self.most_alive = max(self.most_alive, self.alive)
            self._changed.notify_all()

    def closed(self) -> None:
        with self._changed:
            self.alive -= 1

    def before_send(self, number: int) -> None:
        wanted = min(number + 2, self.hold_sends)
        with self._changed:
            # Bounded: if the writer cannot get that far, the assertions on most_alive say so.
            self._changed.wait_for(lambda: len(self.parts) >= wanted, timeout=10)


@pytest.fixture
def part_spy(monkeypatch: pytest.MonkeyPatch) -> PartSpy:
    spy = PartSpy()

    class SpiedPart(Part):
        def __init__(self, number: int, capacity: int, *, spool: bool) -> None:
            super().__init__(number, capacity, spool=spool)
            self.closed = False
            spy.opened(self)

        def body(self) -> Any:
            spy.before_send(self.number)
            return super().body()

        def close(self) -> None:
            if not self.closed:
                self.closed = True
                spy.closed()
            super().close()

    monkeypatch.setattr(s3_module, "Part", SpiedPart)
    return spy


@pytest.fixture
def growing_store(s3_server: dict[str, str], s3_bucket: str) -> S3BlobStore:
    return make_s3_store(s3_server, s3_bucket, **GROWING)


def test_parts_grow_on_schedule_and_the_blob_reads_back_identical(
    growing_store: S3BlobStore, s3_client: Any, part_spy: PartSpy
) -> None:
    data = payload(sum(GROWN_SIZES) + 12_345)
    write_all(growing_store, KEY, data)
    assert stored_part_sizes(s3_client, growing_store.bucket, growing_store.prefix + KEY) == [
        *GROWN_SIZES,
        12_345,
    ]
    assert b"".join(growing_store.read(KEY)) == data
    # Across the boundary between a 10 MiB and a 20 MiB part, and within the last one.
    boundary = sum(GROWN_SIZES[:4])
    for offset, length in [(boundary - 3, 7), (boundary - MiB, 3 * MiB), (len(data) - 100, None)]:
        end = None if length is None else offset + length
        assert b"".join(growing_store.read(KEY, offset=offset, length=length)) == data[offset:end]
    assert [(part.number, part.capacity, part.spooled) for part in part_spy.parts] == [
        (1, 5 * MiB, False),
        (2, 5 * MiB, False),
        (3, 10 * MiB, True),
        (4, 10 * MiB, True),
        (5, 20 * MiB, True),
        (6, 20 * MiB, True),  # the last part: planned at 20 MiB, sent with what was left
    ]
    assert part_spy.alive == 0  # every buffer and temporary file freed


def test_at_most_two_parts_in_flight_while_a_third_fills(
    growing_store: S3BlobStore, part_spy: PartSpy
) -> None:
    part_spy.hold_sends = len(GROWN_SIZES)
    data = payload(sum(GROWN_SIZES), seed=3)
    write_all(growing_store, KEY, data)
    # Five parts, each sent only once the writer is two ahead: without the bound all five would be alive.
    assert part_spy.most_alive == 3
    assert part_spy.alive == 0
    assert b"".join(growing_store.read(KEY)) == data


@pytest.mark.parametrize("size", [0, 1000, MIN_PART_SIZE, 2 * MIN_PART_SIZE + 1])
def test_spooled_parts_round_trip_in_one_put_or_many_parts(
    s3_server: dict[str, str], s3_bucket: str, part_spy: PartSpy, size: int
) -> None:
    store = make_s3_store(s3_server, s3_bucket, spool_above=0)  # every part waits in a file
    data = payload(size, seed=size)
    write_all(store, KEY, data)
    assert b"".join(store.read(KEY)) == data
    assert store.size(KEY) == size
    assert all(part.spooled for part in part_spy.parts)
    assert len(part_spy.parts) == (size + MIN_PART_SIZE - 1) // MIN_PART_SIZE
    assert part_spy.alive == 0


def test_the_ceiling_refuses_the_first_byte_too_many(
    s3_server: dict[str, str], s3_bucket: str, s3_client: Any, staged_count: Callable[[BlobStore], int]
) -> None:
    # Two parts in the budget: 5 MiB then 10 MiB (one part per size), so 15 MiB fit and no byte more.
    store = make_s3_store(s3_server, s3_bucket, max_parts=2)
    assert store.max_blob_size == 15 * MiB
    data = payload(15 * MiB, seed=4)
    write_all(store, KEY, data)
    assert stored_part_sizes(s3_client, s3_bucket, store.prefix + KEY) == [5 * MiB, 10 * MiB]
    writer = store.writer("images/too-big")
    writer.write(data)
    with pytest.raises(ValueError, match=f"ceiling of {15 * MiB} bytes"):
        writer.write(b"x")
    writer.cancel()
    assert store.size("images/too-big") is None
    assert staged_count(store) == 0
    assert b"".join(store.read(KEY)) == data


def _open_upload_ids(client: Any, bucket: str) -> list[str]:
    return [upload["UploadId"] for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def test_a_part_failing_mid_upload_is_unavailable_and_cancel_cleans_up(
    s3_server: dict[str, str], s3_bucket: str, s3_client: Any, staged_count: Callable[[BlobStore], int]
) -> None:
    store = make_s3_store(s3_server, s3_bucket)
    writer = store.writer(KEY)
    writer.write(payload(MIN_PART_SIZE))  # part 1 is on its way: the upload exists
    (upload_id,) = _open_upload_ids(s3_client, s3_bucket)
    # Another replica's sweep, run with too short a threshold, aborts the upload under the writer.
    s3_client.abort_multipart_upload(Bucket=s3_bucket, Key=store.prefix + KEY, UploadId=upload_id)
    with pytest.raises(BlobStoreUnavailable):
        for _ in range(3):  # the failure shows on a later write or at the latest on commit
            writer.write(payload(MIN_PART_SIZE, seed=5))
        writer.commit()
    with pytest.raises(ValueError, match="failed earlier"):
        writer.commit()
    writer.cancel()
    assert store.size(KEY) is None
    assert staged_count(store) == 0


# --- moto: answers a real store does not give ---------------------------------------------------------------
# AWS S3 answers NoSuchUpload when an upload that is already gone is aborted again; SeaweedFS answers 204, so
# only moto (which follows AWS here) can show that cancel and abort tolerate it.


@pytest.fixture
def moto_store(moto_endpoint: str) -> Iterator[tuple[S3BlobStore, Any]]:
    client = s3_client(moto_endpoint)
    bucket = f"moto-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    server = {
        "endpoint_url": moto_endpoint,
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
        "region": REGION,
    }
    yield make_s3_store(server, bucket), client


def test_cancel_tolerates_an_upload_aborted_behind_its_back(moto_store: tuple[S3BlobStore, Any]) -> None:
    store, client = moto_store
    writer = store.writer(KEY)
    writer.write(payload(MIN_PART_SIZE))
    (upload_id,) = _open_upload_ids(client, store.bucket)
    client.abort_multipart_upload(Bucket=store.bucket, Key=store.prefix + KEY, UploadId=upload_id)
    writer.cancel()  # its own abort now gets NoSuchUpload, which means the work is done
    assert _open_upload_ids(client, store.bucket) == []
    with pytest.raises(BlobNotFound):
        store.read(KEY)


def test_two_sweeps_racing_for_one_upload_both_succeed(moto_store: tuple[S3BlobStore, Any]) -> None:
    store, client = moto_store
    abandoned = store.writer("images/abandoned")
    abandoned.write(payload(MIN_PART_SIZE))
    (upload_id,) = _open_upload_ids(client, store.bucket)

    def the_other_sweep_wins(**_: Any) -> None:
        # Runs just before this sweep's abort goes out: the other replica has just aborted the same upload.
        key = store.prefix + "images/abandoned"
        client.abort_multipart_upload(Bucket=store.bucket, Key=key, UploadId=upload_id)

    store._client.meta.events.register("before-call.s3.AbortMultipartUpload", the_other_sweep_wins)
    (staged,) = store.staged()
    store.abort(staged)  # its abort now gets NoSuchUpload: done by the other sweep, not an error
    assert _open_upload_ids(client, store.bucket) == []
    abandoned.cancel()
