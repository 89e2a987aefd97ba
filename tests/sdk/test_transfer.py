"""Uploads and downloads through the SDK: streamed, hashed, verified, and nothing partial left behind."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from scp_images.client import Client, ConflictError, IntegrityError
from scp_images.client._transfer import Expected, file_chunks, save_verified
from tests.support.stack import Stack


def _digests(data: bytes) -> tuple[str, str]:
    return hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()


def test_create_from_file_ends_active_with_the_file_checksums(
    client: Client, make_qcow2: Callable[..., Path]
) -> None:
    path = make_qcow2("disk.qcow2", "64M")
    data = path.read_bytes()
    md5, sha512 = _digests(data)
    seen: list[tuple[int, int | None]] = []

    image = client.images.create_from_file(
        path,
        "from-file",
        "ubuntu",
        min_disk=2,
        tags={"team": "qa"},
        progress=lambda d, t: seen.append((d, t)),
    )

    assert image.status == "active"
    assert image.checksum == md5
    assert (image.os_hash_algo, image.os_hash_value) == ("sha512", sha512)
    assert image.size == len(data)
    assert image.virtual_size == 64 * 1024 * 1024
    assert image.min_disk == 2 and image.visibility == "private"
    assert seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    record = client.images.import_status(image.id)
    assert record.status == "succeeded" and record.bytes_read == len(data)


def test_file_chunks_stream_the_file_in_bounded_pieces(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 2500)
    chunks = file_chunks(path, chunk_size=1000)
    assert next(chunks) == b"x" * 1000  # lazy: one chunk read at a time
    assert [len(c) for c in chunks] == [1000, 500]


def test_download_writes_the_verified_bytes(
    client: Client, make_qcow2: Callable[..., Path], tmp_path: Path
) -> None:
    path = make_qcow2("disk.qcow2", "32M")
    image = client.images.create_from_file(path, "to-download", "ubuntu")
    out = tmp_path / "out"
    out.mkdir()
    seen: list[tuple[int, int | None]] = []

    saved = client.images.download(image.id, out / "copy.qcow2", progress=lambda d, t: seen.append((d, t)))

    assert saved == out / "copy.qcow2"
    assert saved.read_bytes() == path.read_bytes()
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    into_dir = client.images.download(image.id, out)
    assert into_dir == out / f"{image.id}.qcow2"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["copy.qcow2", f"{image.id}.qcow2"]
    )  # no .part left


def test_download_of_a_queued_image_is_a_conflict_and_writes_nothing(client: Client, tmp_path: Path) -> None:
    image = client.images.create("still-queued", "ubuntu")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ConflictError) as refused:
        client.images.download(image.id, out / "never.qcow2")
    assert refused.value.code == "virtualserver.image.InvalidStatus"
    assert list(out.iterdir()) == []


def test_download_of_corrupted_stored_bytes_raises_integrity_error(
    stack: Stack, client: Client, make_qcow2: Callable[..., Path], tmp_path: Path
) -> None:
    """The server's stored blob is damaged behind its back: the SDK notices and keeps nothing."""
    path = make_qcow2("disk.qcow2", "32M")
    image = client.images.create_from_file(path, "to-corrupt", "ubuntu")
    original = path.read_bytes()
    (blob,) = [
        p
        for p in (stack.settings.data_dir / "blobs").rglob("*")
        if p.is_file() and p.stat().st_size == len(original)
    ]
    damaged = bytearray(blob.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    blob.write_bytes(bytes(damaged))
    target = tmp_path / "out" / "copy.qcow2"
    target.parent.mkdir()

    with pytest.raises(IntegrityError) as corrupt:
        client.images.download(image.id, target)

    assert "md5" in str(corrupt.value)
    assert list(target.parent.iterdir()) == []


def _expected(data: bytes) -> Expected:
    md5, sha512 = _digests(data)
    content_md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    return Expected(md5=md5, sha512=sha512, content_md5=content_md5, size=len(data))


@pytest.mark.parametrize(
    ("field", "wrong"),
    [("md5", "0" * 32), ("sha512", "0" * 128), ("content_md5", "AAAAAAAAAAAAAAAAAAAAAA=="), ("size", 1)],
)
def test_save_verified_deletes_the_staged_file_on_any_mismatch(
    tmp_path: Path, field: str, wrong: object
) -> None:
    data = b"image bytes " * 10_000
    target = tmp_path / "disk.qcow2"
    target.write_bytes(b"previous good copy")
    bad = replace(_expected(data), **{field: wrong})

    with pytest.raises(IntegrityError, match="corrupt"):
        save_verified(iter([data[:5000], data[5000:]]), target, bad)

    assert list(tmp_path.iterdir()) == [target]
    assert target.read_bytes() == b"previous good copy"  # the old file is untouched


def test_save_verified_moves_good_bytes_into_place(tmp_path: Path) -> None:
    data = b"good bytes" * 1000
    seen: list[tuple[int, int | None]] = []
    target = save_verified(
        iter([data]), tmp_path / "ok.qcow2", _expected(data), lambda d, t: seen.append((d, t))
    )
    assert target.read_bytes() == data
    assert seen == [(0, len(data)), (len(data), len(data))]
    assert list(tmp_path.iterdir()) == [target]


def test_save_verified_refuses_to_trust_bytes_without_any_digest(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match="nothing to verify"):
        save_verified(iter([b"data"]), tmp_path / "x", Expected(size=4))
    assert list(tmp_path.iterdir()) == []
