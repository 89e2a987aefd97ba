"""The filesystem store's links for conversions: ``adopt`` commits a finished file as a blob without a copy
(the conversion's output: no third file on disk), ``link_into`` gives a job a committed blob without one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scp_images.store.blob import FilesystemBlobStore
from scp_images.store.blob.base import BlobNotFound


def _read(store: FilesystemBlobStore, key: str) -> bytes:
    return b"".join(store.read(key))


def test_an_adopted_file_is_the_blob_without_a_copy(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    output = tmp_path / "job" / "output.qcow2"
    output.parent.mkdir()
    data = os.urandom(200_000)
    output.write_bytes(data)
    assert store.adopt("images/x/1", output)
    assert _read(store, "images/x/1") == data
    assert store.size("images/x/1") == len(data)
    # One file, two names: the blob took no space of its own, and outlives the job's directory.
    assert os.stat(output).st_ino == os.stat(tmp_path / "blobs" / "images/x/1").st_ino
    output.unlink()
    assert _read(store, "images/x/1") == data
    store.delete("images/x/1")
    assert store.size("images/x/1") is None


def test_adopting_onto_an_existing_blob_fails_and_keeps_it(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    with store.writer("images/x/1") as writer:
        writer.write(b"first")
        writer.commit()
    other = tmp_path / "other"
    other.write_bytes(b"second")
    with pytest.raises(Exception):  # noqa: B017 - the store's own error for a write it cannot make
        store.adopt("images/x/1", other)
    assert _read(store, "images/x/1") == b"first"


def test_a_committed_blob_is_linked_into_a_job_directory(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    with store.writer("images/x/original") as writer:
        writer.write(b"original bytes")
        writer.commit()
    target = tmp_path / "job" / "input.vmdk"
    target.parent.mkdir()
    assert store.link_into("images/x/original", target)
    assert target.read_bytes() == b"original bytes"
    with pytest.raises(BlobNotFound):
        store.link_into("images/x/missing", tmp_path / "job" / "other")
