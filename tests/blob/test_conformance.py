"""One conformance suite for every blob backend (parametrised by the ``blob_store`` fixture), then the few
properties that only one backend can show (crash leftovers on disk, multipart layout on S3) and the factory.
"""

from __future__ import annotations

import gc
import itertools
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scp_images.store.blob import (
    BlobNotFound,
    BlobStore,
    BlobStoreUnavailable,
    FilesystemBlobStore,
    S3BlobStore,
    create_blob_store,
)
from scp_images.store.blob.filesystem import STAGING_DIR
from tests.blob.conftest import PART_SIZE, make_s3_store

KEY = "images/0b7e6a4c-2f9d-4c55-9d1e-3a4f1c2b9e10"
StagedCount = Callable[[BlobStore], int]


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def chunked(data: bytes, sizes: list[int]) -> Iterator[memoryview]:
    """Split ``data`` cycling through ``sizes``, as a network or a pipeline would hand it over."""
    view, position, turn = memoryview(data), 0, 0
    while position < len(data):
        size = sizes[turn % len(sizes)]
        yield view[position : position + size]
        position, turn = position + size, turn + 1


def put(store: BlobStore, key: str, data: bytes, sizes: tuple[int, ...] = (65_537, 7, 1_000_003)) -> None:
    with store.writer(key) as writer:
        for chunk in chunked(data, list(sizes)):
            writer.write(chunk)
        writer.commit()


def get(store: BlobStore, key: str, **kwargs: Any) -> bytes:
    return b"".join(store.read(key, **kwargs))


# --- round trips --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [0, 1, 4_097, PART_SIZE - 1, PART_SIZE, PART_SIZE + 1, 2 * PART_SIZE + 12_345],
    ids=["empty", "one", "small", "part-1", "part", "part+1", "three-parts"],
)
def test_written_bytes_read_back_identical(blob_store: BlobStore, size: int) -> None:
    data = payload(size, seed=size)
    with blob_store.writer(KEY) as writer:
        for chunk in chunked(data, [65_537, 3, 1_048_583]):
            writer.write(chunk)
        assert writer.bytes_written == size
        writer.commit()
    assert blob_store.size(KEY) == size
    assert get(blob_store, KEY) == data


def test_accepts_bytes_bytearray_and_memoryview(blob_store: BlobStore) -> None:
    with blob_store.writer(KEY) as writer:
        writer.write(b"ab")
        writer.write(memoryview(bytearray(b"cd")))  # a reused buffer, as a pipeline would pass
        writer.write(memoryview(b"xxefxx")[2:4])
        writer.write(b"")
        writer.commit()
    assert get(blob_store, KEY) == b"abcdef"


@pytest.mark.parametrize("chunk_size", [1, 7, 1 << 20])
def test_read_yields_chunks_no_larger_than_asked(blob_store: BlobStore, chunk_size: int) -> None:
    data = payload(10_000)
    put(blob_store, KEY, data)
    chunks = list(blob_store.read(KEY, chunk_size=chunk_size))
    assert b"".join(chunks) == data
    assert all(0 < len(chunk) <= chunk_size for chunk in chunks)


def test_random_splits_round_trip(blob_store: BlobStore) -> None:
    counter = iter(range(1_000_000))

    @settings(max_examples=30 if blob_store.name == "s3" else 100, deadline=None)
    @given(
        size=st.one_of(st.integers(0, 70_000), st.integers(PART_SIZE - 3, 2 * PART_SIZE + 3)),
        data=st.data(),
    )
    def round_trip(size: int, data: st.DataObject) -> None:
        # Cut points rather than chunk sizes, and a floor under the read chunk: any split, but never
        # millions of one-byte calls.
        cuts = sorted(data.draw(st.lists(st.integers(0, size), max_size=12), label="cuts"))
        read_chunk = data.draw(st.integers(max(1, size // 64), 2 << 20), label="read_chunk")
        blob = payload(size, seed=size)
        key = f"images/prop/{next(counter)}"
        with blob_store.writer(key) as writer:
            for start, end in itertools.pairwise([0, *cuts, size]):
                writer.write(blob[start:end])
            writer.commit()
        assert get(blob_store, key, chunk_size=read_chunk) == blob
        blob_store.delete(key)

    round_trip()


# --- range reads --------------------------------------------------------------------------------------------

RANGES = [
    (0, None), (0, 0), (0, 1), (0, 999), (0, 1000), (0, 5000), (1, None), (10, 1), (500, 250),
    (999, None), (999, 1), (999, 10), (1000, None), (1000, 0), (1000, 5), (5000, None), (5000, 3),
]  # fmt: skip


@pytest.mark.parametrize(("offset", "length"), RANGES)
def test_range_read_is_a_slice(blob_store: BlobStore, offset: int, length: int | None) -> None:
    data = payload(1000)
    put(blob_store, KEY, data)
    end = None if length is None else offset + length
    assert get(blob_store, KEY, offset=offset, length=length, chunk_size=333) == data[offset:end]


@pytest.mark.parametrize(("offset", "length"), [(0, None), (0, 0), (0, 1), (3, None), (3, 2)])
def test_range_read_of_empty_blob(blob_store: BlobStore, offset: int, length: int | None) -> None:
    put(blob_store, KEY, b"")
    assert get(blob_store, KEY, offset=offset, length=length) == b""


def test_range_read_across_part_boundaries(blob_store: BlobStore) -> None:
    data = payload(2 * PART_SIZE + 100)
    put(blob_store, KEY, data, (PART_SIZE // 3,))
    for offset, length in [(PART_SIZE - 5, 10), (PART_SIZE - 1, PART_SIZE + 2), (2 * PART_SIZE, None)]:
        end = None if length is None else offset + length
        assert get(blob_store, KEY, offset=offset, length=length) == data[offset:end]


@pytest.mark.parametrize("arguments", [{"offset": -1}, {"length": -1}, {"chunk_size": 0}])
def test_invalid_range_rejected(blob_store: BlobStore, arguments: dict[str, int]) -> None:
    put(blob_store, KEY, b"data")
    with pytest.raises(ValueError):
        blob_store.read(KEY, **arguments)


# --- visibility ---------------------------------------------------------------------------------------------


def assert_absent(store: BlobStore, key: str) -> None:
    assert store.size(key) is None
    assert key not in set(store.keys())
    with pytest.raises(BlobNotFound):
        store.read(key)  # raised on the call itself, before any iteration
    with pytest.raises(BlobNotFound):
        store.read(key, offset=1, length=0)


def test_missing_key(blob_store: BlobStore) -> None:
    assert_absent(blob_store, KEY)
    assert issubclass(BlobNotFound, KeyError)


def test_nothing_visible_before_commit(blob_store: BlobStore) -> None:
    writer = blob_store.writer(KEY)
    writer.write(payload(PART_SIZE + 10))
    assert_absent(blob_store, KEY)
    writer.commit()
    assert blob_store.size(KEY) == PART_SIZE + 10


@pytest.mark.parametrize("size", [0, 100, PART_SIZE + 100], ids=["empty", "small", "multipart"])
def test_cancel_leaves_nothing(blob_store: BlobStore, staged_count: StagedCount, size: int) -> None:
    writer = blob_store.writer(KEY)
    writer.write(payload(size))
    writer.cancel()
    writer.cancel()  # idempotent
    assert_absent(blob_store, KEY)
    assert staged_count(blob_store) == 0


def test_exception_inside_with_cancels(blob_store: BlobStore, staged_count: StagedCount) -> None:
    with pytest.raises(RuntimeError, match="boom"), blob_store.writer(KEY) as writer:
        writer.write(payload(PART_SIZE + 1))
        raise RuntimeError("boom")
    assert_absent(blob_store, KEY)
    assert staged_count(blob_store) == 0


def test_closed_writer_refuses_use(blob_store: BlobStore) -> None:
    writer = blob_store.writer(KEY)
    writer.write(b"abc")
    writer.commit()
    writer.cancel()  # after commit: a no-op that must not remove the blob
    with pytest.raises(ValueError):
        writer.write(b"more")
    with pytest.raises(ValueError):
        writer.commit()
    assert get(blob_store, KEY) == b"abc"
    cancelled = blob_store.writer("images/other")
    cancelled.cancel()
    with pytest.raises(ValueError):
        cancelled.commit()


def test_overwrite_replaces_atomically(blob_store: BlobStore) -> None:
    first, second = payload(PART_SIZE + 7, seed=1), payload(1234, seed=2)
    put(blob_store, KEY, first)
    reading = blob_store.read(KEY, chunk_size=4096)
    head = next(reading)
    with blob_store.writer(KEY) as writer:
        writer.write(second)
        assert get(blob_store, KEY) == first  # the old bytes stay whole until commit
        writer.commit()
    assert head + b"".join(reading) == first  # a read in progress is not torn
    assert get(blob_store, KEY) == second
    assert blob_store.size(KEY) == len(second)


# --- delete, keys, sweep ------------------------------------------------------------------------------------


def test_delete_is_idempotent(blob_store: BlobStore) -> None:
    blob_store.delete(KEY)
    put(blob_store, KEY, b"x")
    blob_store.delete(KEY)
    blob_store.delete(KEY)
    assert_absent(blob_store, KEY)


def test_keys_lists_committed_only(blob_store: BlobStore) -> None:
    committed = {"images/a/1", "images/b/2", "top", "images/a/3"}
    for key in committed:
        put(blob_store, key, key.encode())
    pending = blob_store.writer("images/pending")
    pending.write(b"staged")
    cancelled = blob_store.writer("images/cancelled")
    cancelled.write(b"gone")
    cancelled.cancel()
    assert set(blob_store.keys()) == committed
    blob_store.delete("top")
    assert set(blob_store.keys()) == committed - {"top"}
    pending.cancel()


def test_staged_uploads_are_listed_with_their_key_and_aborted(
    blob_store: BlobStore, staged_count: StagedCount
) -> None:
    put(blob_store, KEY, b"kept")
    before = time.time()
    abandoned = blob_store.writer("images/abandoned")
    abandoned.write(payload(PART_SIZE + 1))  # enough for S3 to have a multipart upload open
    assert staged_count(blob_store) == 1
    (upload,) = blob_store.staged()
    assert upload.key == "images/abandoned"
    # SeaweedFS, like AWS, dates an upload by its real start (the store's clock: a little skew allowed).
    assert before - 5 <= upload.started_at <= time.time() + 5
    blob_store.abort(upload)
    blob_store.abort(upload)  # gone already: a no-op
    assert staged_count(blob_store) == 0
    assert list(blob_store.staged()) == []
    assert get(blob_store, KEY) == b"kept"
    assert blob_store.size("images/abandoned") is None
    (stored,) = blob_store.blobs()
    assert stored.key == KEY and before - 5 <= stored.modified_at <= time.time() + 5


# --- keys and health ----------------------------------------------------------------------------------------

INVALID_KEYS = [
    "", "/images/a", "images/../a", "..", "a/..b", "images//a", "images/a/", ".staging/x", "images/.hidden",
    "sp ace", "tab\t", "ünïcode", "back\\slash", "q?x", "x" * 1025,
]  # fmt: skip


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_rejected(blob_store: BlobStore, key: str) -> None:
    for operation in (blob_store.writer, blob_store.read, blob_store.size, blob_store.delete):
        with pytest.raises(ValueError):
            operation(key)


@pytest.mark.parametrize("key", ["a", "images/7c9e6679-7425-40de-944b-e07fc1f90ae7", "A-z_0.9/x.y-z_"])
def test_valid_keys_accepted(blob_store: BlobStore, key: str) -> None:
    put(blob_store, key, b"ok")
    assert get(blob_store, key) == b"ok"
    assert key in set(blob_store.keys())


def test_check_passes_on_a_working_store(blob_store: BlobStore) -> None:
    blob_store.check()


# --- filesystem only ----------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_filesystem_crash_before_commit_leaves_only_staging(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    writer = store.writer(KEY)
    writer.write(payload(100_000))
    del writer  # the process died: neither commit nor cancel ran
    gc.collect()
    assert not (tmp_path / KEY).exists()
    assert store.size(KEY) is None
    assert list(store.keys()) == []
    assert len(list((tmp_path / STAGING_DIR).iterdir())) == 1
    (staged,) = store.staged()
    assert staged.key == KEY
    store.abort(staged)
    assert list((tmp_path / STAGING_DIR).iterdir()) == []


def test_filesystem_layout_and_check(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "root")
    put(store, KEY, b"bytes")
    assert (tmp_path / "root" / KEY).read_bytes() == b"bytes"
    (tmp_path / "root" / "images" / "stray name").write_bytes(b"")  # not addressable, not listed
    assert list(store.keys()) == [KEY]
    (tmp_path / "root" / STAGING_DIR).rmdir()
    with pytest.raises(BlobStoreUnavailable):
        store.check()


def test_filesystem_failed_commit_can_be_cancelled(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    put(store, "images/a", b"a file where a directory is needed")
    writer = store.writer("images/a/b")
    writer.write(b"bytes")
    with pytest.raises(BlobStoreUnavailable):
        writer.commit()
    with pytest.raises(ValueError, match="failed earlier"):
        writer.commit()
    writer.cancel()
    assert list((tmp_path / STAGING_DIR).iterdir()) == []
    assert get(store, "images/a") == b"a file where a directory is needed"


# --- S3 only ------------------------------------------------------------------------------------------------


def test_s3_layout_under_prefix(s3_server: dict[str, str], s3_bucket: str, s3_client: Any) -> None:
    store = make_s3_store(s3_server, s3_bucket, prefix="/deep/prefix/")
    put(store, "images/small", b"small")
    put(store, "images/big", payload(2 * PART_SIZE + 1), (PART_SIZE // 2,))
    s3_client.put_object(Bucket=s3_bucket, Key="deep/prefix/not a key", Body=b"")
    s3_client.put_object(Bucket=s3_bucket, Key="elsewhere", Body=b"")
    assert set(store.keys()) == {"images/small", "images/big"}
    small = s3_client.head_object(Bucket=s3_bucket, Key="deep/prefix/images/small")
    big = s3_client.head_object(Bucket=s3_bucket, Key="deep/prefix/images/big")
    assert "-" not in small["ETag"]  # one PutObject below a part's size
    assert big["ETag"].strip('"').endswith("-3")  # three parts


def test_s3_failures_surface_as_unavailable(s3_server: dict[str, str]) -> None:
    store = make_s3_store(s3_server, "no-such-bucket-for-scp")
    with pytest.raises(BlobStoreUnavailable):
        store.check()
    with pytest.raises(BlobStoreUnavailable):
        put(store, KEY, b"x")
    writer = store.writer(KEY)
    with pytest.raises(BlobStoreUnavailable):
        writer.write(payload(PART_SIZE))  # a full part starts the multipart upload, which fails
    with pytest.raises(ValueError, match="failed earlier"):
        writer.write(b"more")
    writer.cancel()


def test_s3_part_size_below_minimum_rejected() -> None:
    with pytest.raises(ValueError):
        S3BlobStore("bucket", part_size=PART_SIZE - 1)


# --- factory ------------------------------------------------------------------------------------------------


def test_factory_file_url_creates_directory(tmp_path: Path) -> None:
    store = create_blob_store((tmp_path / "new" / "blobs").as_uri())
    assert isinstance(store, FilesystemBlobStore)
    assert store.root == tmp_path / "new" / "blobs"
    assert store.root.is_dir()


def test_factory_s3_url(s3_server: dict[str, str]) -> None:
    store = create_blob_store(
        "s3://my-bucket/some/prefix",
        s3_endpoint_url=s3_server["endpoint_url"],
        s3_access_key_id="k",
        s3_secret_access_key="s",
        s3_region="us-east-1",
    )
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix, store.name) == ("my-bucket", "some/prefix/", "s3")


@pytest.mark.parametrize(
    "url", ["ftp://host/x", "blobs", "file:relative/path", "file://host/abs", "s3:///prefix"]
)
def test_factory_rejects_unknown_urls(url: str) -> None:
    with pytest.raises(ValueError, match="blob store URL"):
        create_blob_store(url)
