"""The filesystem store's chunks can be taken without waiting (``next_nowait``, from the page cache) or by a
blocking read, in any mix: the bytes are the same either way, the range is honoured, the end is
StopIteration and the file is closed once it is reached or the reader is closed."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scp_images.store.blob import FilesystemBlobStore

DATA = os.urandom(300_000)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FilesystemBlobStore:
    blobs = FilesystemBlobStore(tmp_path_factory.mktemp("nowait") / "blobs")
    with blobs.writer("images/a") as writer:
        writer.write(DATA)
        writer.commit()
    return blobs


def _drain(chunks: object, pattern: list[bool]) -> bytes:
    """Take every chunk, non-blocking where ``pattern`` says (cycled), falling back as a server does."""
    out = bytearray()
    step = 0
    while True:
        nowait = pattern[step % len(pattern)]
        step += 1
        try:
            chunk = chunks.next_nowait() if nowait else None  # type: ignore[attr-defined]
            if chunk is None:
                chunk = next(chunks)  # type: ignore[call-overload]
        except StopIteration:
            return bytes(out)
        assert 0 < len(chunk) <= 65_536
        out += chunk


@settings(max_examples=60, deadline=None)
@given(
    offset=st.integers(0, len(DATA) + 10),
    length=st.none() | st.integers(0, len(DATA) + 10),
    pattern=st.lists(st.booleans(), min_size=1, max_size=5),
)
def test_any_mix_of_nowait_and_blocking_reads_gives_the_range(
    store: FilesystemBlobStore, offset: int, length: int | None, pattern: list[bool]
) -> None:
    chunks = store.read("images/a", offset=offset, length=length, chunk_size=65_536)
    expected = DATA[offset:] if length is None else DATA[offset : offset + length]
    assert _drain(chunks, pattern) == expected
    assert chunks._file.closed  # type: ignore[attr-defined]


def test_warm_bytes_come_without_waiting_as_views(store: FilesystemBlobStore) -> None:
    (store.root / "images" / "a").read_bytes()  # in the page cache now
    chunks = store.read("images/a", chunk_size=65_536)
    first = chunks.next_nowait()  # type: ignore[attr-defined]
    if first is None:  # a kernel or filesystem without RWF_NOWAIT for buffered reads: always the fallback
        assert next(chunks) == DATA[:65_536]  # type: ignore[call-overload]
        return
    assert isinstance(first, memoryview) and bytes(first) == DATA[:65_536]


def test_closing_early_closes_the_file(store: FilesystemBlobStore) -> None:
    chunks = store.read("images/a", chunk_size=1000)
    assert next(chunks) == DATA[:1000]  # type: ignore[call-overload]
    chunks.close()  # type: ignore[attr-defined]
    assert chunks._file.closed  # type: ignore[attr-defined]
    with pytest.raises(StopIteration):
        next(chunks)  # type: ignore[call-overload]
    with pytest.raises(StopIteration):
        chunks.next_nowait()  # type: ignore[attr-defined]
