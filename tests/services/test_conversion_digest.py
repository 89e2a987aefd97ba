"""The original's sha512 of a converted disk (issue 21), through the real services (SQLite, the filesystem
blob store, real qemu-img): a disk to convert is not hashed while it uploads; its conversion computes the
sha512 of the whole file as it was sent (a whole .ova), from a hard-linked original (a thread reading it
while qemu-img runs) or from a copy (another device: hashed on the way), records it on the job, then
on the image. A conversion that fails, is cancelled or runs out of time leaves no hashing thread and no
open file; an error while hashing fails the job."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from scp_images.app import build_components
from scp_images.config import Settings
from scp_images.domain.disk_formats import DiskFormat
from scp_images.domain.image import Image, ImageStatus
from scp_images.domain.jobs import JobStatus
from scp_images.domain.principal import Principal
from scp_images.formats.detect import DetectingInspector
from scp_images.imports.pipeline import ingest
from scp_images.services.data.blob_digest import THREAD_NAME, BlobDigest
from scp_images.store.blob.base import BlobStoreUnavailable
from scp_images.store.blob.filesystem import FilesystemBlobStore
from tests.services.conftest import create
from tests.support import corpus_vmdk
from tests.support.services import Services
from tests.support.tools import require_qemu, run_tool, wait_until

PIECE = 16 << 10  # the hashing thread's reads are served in pieces this small, so it is caught mid-read


class WatchedRead:
    """The chunks of one read by the hashing thread, served in ``PIECE``s; ``hook(n)`` runs before the
    n-th piece (it may wait, or raise as a failing store would)."""

    def __init__(self, inner: Any, hook: Callable[[int], None] | None) -> None:
        self._inner, self._hook = inner, hook
        self._pending = b""
        self.served = 0
        self.closed = False

    def __iter__(self) -> WatchedRead:
        return self

    def __next__(self) -> bytes:
        if not self._pending:
            self._pending = bytes(next(self._inner))
        piece, self._pending = self._pending[:PIECE], self._pending[PIECE:]
        if self._hook is not None:
            self._hook(self.served)
        self.served += 1
        return piece

    def close(self) -> None:
        self.closed = True
        self._inner.close()


class WatchedStore(FilesystemBlobStore):
    """The real filesystem store, whose reads by the hashing thread are watched (``reads``). With
    ``links=False`` it behaves as a store on another device: nothing is hard-linked, so a conversion
    copies its original whole and stores its output by a copy."""

    def __init__(self, root: Path, *, links: bool = True) -> None:
        super().__init__(root)
        self.links = links
        self.hook: Callable[[int], None] | None = None
        self.reads: list[WatchedRead] = []
        self.sync_error: Exception | None = None
        self.synced: list[str] = []

    def link_into(self, key: str, target: Path) -> bool:
        return self.links and super().link_into(key, target)

    def adopt(self, key: str, source: Path, *, durable: bool = True) -> bool:
        return self.links and super().adopt(key, source, durable=durable)

    def sync(self, key: str) -> None:
        if self.sync_error is not None:
            raise self.sync_error
        super().sync(key)
        self.synced.append(key)

    def read(self, key: str, *, offset: int = 0, length: int | None = None, chunk_size: int = 1 << 20) -> Any:
        chunks = super().read(key, offset=offset, length=length, chunk_size=chunk_size)
        if threading.current_thread().name != THREAD_NAME:
            return chunks
        watched = WatchedRead(chunks, self.hook)
        self.reads.append(watched)
        return watched


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_qemu()
    return tmp_path_factory.mktemp("digest-corpus")


@pytest.fixture
def stores(tmp_path: Path, migrated: Path) -> Iterator[Callable[..., tuple[Services, WatchedStore]]]:
    """Services over a ``WatchedStore`` on their own data dir, with the Settings fields given."""
    with ExitStack() as stack:
        count = itertools.count()

        def make(*, links: bool = True, **settings: Any) -> tuple[Services, WatchedStore]:
            data_dir = tmp_path / f"data{next(count)}"
            shutil.copytree(migrated, data_dir)
            store = WatchedStore((data_dir / "blobs").resolve(), links=links)
            parts = build_components(Settings(data_dir=data_dir, **settings), blobs=store)
            stack.callback(parts.close)
            return Services(parts), store

        yield make


def converted(corpus: Path, driver: str, options: str, name: str) -> Path:
    target = corpus / name
    if not target.exists():
        raw = corpus_vmdk.known_raw(corpus)
        run_tool("qemu-img", "convert", "-q", "-f", "raw", "-O", driver, "-o", options, str(raw), str(target))
    return target


DISKS: dict[str, Callable[[Path], Path]] = {
    "vmdk": corpus_vmdk.stream_optimized,
    "vhdx": lambda corpus: converted(corpus, "vhdx", "subformat=dynamic", "dynamic.vhdx"),
    "ova": corpus_vmdk.ova,
}


def sha512_of(path: Path) -> str:
    return hashlib.sha512(path.read_bytes()).hexdigest()


def upload(services: Services, caller: Principal, path: Path, **fields: Any) -> Image:
    image = create(services, caller, **fields)
    services.upload(caller, image.id, [path.read_bytes()])
    return services.parts.images.show(caller, image.id)


def convert_all(services: Services) -> int:
    ran = 0
    while services.parts.runner.run_once():
        ran += 1
    return ran


def hashing_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == THREAD_NAME]


def open_files_under(*roots: Path) -> list[str]:
    """What this process holds open below ``roots`` (the blob store, the conversion directory)."""
    prefixes = tuple(str(root.resolve()) + os.sep for root in roots)
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed between the listing and the read
        if target.startswith(prefixes):
            found.append(target)
    return found


def nothing_left(services: Services, store: WatchedStore) -> None:
    conversions = services.parts.conversions.host.temp_dir
    assert hashing_threads() == []
    assert all(read.closed for read in store.reads)
    assert open_files_under(store.root, conversions) == []
    assert [p for p in conversions.iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize("links", [True, False], ids=["linked", "copied"])
@pytest.mark.parametrize("name", sorted(DISKS))
def test_the_conversion_computes_the_sha512_of_the_whole_file_as_sent(
    stores: Callable[..., tuple[Services, WatchedStore]], corpus: Path, name: str, links: bool
) -> None:
    services, store = stores(links=links)
    owner = services.account("owner")
    source = DISKS[name](corpus)
    staged = upload(services, owner, source)
    status = services.parts.images.import_status(owner, staged.id)
    # Staged, not hashed: its format and size are known, its sha512 not yet.
    assert status.original is not None and status.original.sha512 is None
    assert (status.original.disk_format, status.original.size) == (name, source.stat().st_size)

    assert convert_all(services) == 1
    image = services.parts.images.show(owner, staged.id)
    assert image.status is ImageStatus.ACTIVE and image.original is not None
    assert image.original.sha512 == sha512_of(source)  # an OVA's: the whole .ova, not its disk member
    done = services.parts.images.import_status(owner, staged.id)
    assert (done.status, done.original) == (JobStatus.SUCCEEDED, image.original)
    # A thread read the original while qemu-img ran when nothing else read it whole (a hard link, or an
    # OVA's disk member copied); a copy of the whole original hashed it on the way.
    assert len(store.reads) == (1 if links or name == "ova" else 0)
    nothing_left(services, store)


def test_a_fixed_vhd_is_not_hashed_while_it_uploads_either(
    stores: Callable[..., tuple[Services, WatchedStore]], corpus: Path
) -> None:
    """Bytes without a leading signature (and no raw declared) are a fixed VHD, known by its footer at
    the end, or refused: either way their digests are never an image's."""
    services, store = stores()
    owner = services.account("owner")
    source = converted(corpus, "vpc", "subformat=fixed", "fixed.vhd")
    staged = upload(services, owner, source)
    status = services.parts.images.import_status(owner, staged.id)
    assert status.original is not None and status.original.sha512 is None
    assert convert_all(services) == 1
    image = services.parts.images.show(owner, staged.id)
    assert image.original is not None and image.original.sha512 == sha512_of(source)
    assert len(store.reads) == 1


def test_a_declared_raw_disk_is_hashed_only_when_it_is_stored_as_it_is(
    stores: Callable[..., tuple[Services, WatchedStore]], corpus: Path
) -> None:
    services, _ = stores()
    owner = services.account("owner")
    raw = corpus_vmdk.known_raw(corpus)
    # On an image storing qcow2 a raw disk is converted: not hashed while it uploads.
    image = create(services, owner)
    fence = services.parts.images.begin_upload(owner, image.id, "tests:upload", input_format="raw")
    services.parts.ingest.ingest_or_kill(fence, [raw.read_bytes()], reraise=True)
    status = services.parts.images.import_status(owner, image.id)
    assert status.original is not None and status.original.sha512 is None
    assert convert_all(services) == 1
    shown = services.parts.images.show(owner, image.id)
    assert shown.original is not None and shown.original.sha512 == sha512_of(raw)
    # An image of raw (the OpenStack edge's) stores it as it is, with its digests.
    kept = upload(services, owner, raw, disk_format="raw")
    assert (kept.status, kept.original) == (ImageStatus.ACTIVE, None)
    assert (kept.checksum, kept.os_hash_value) == (hashlib.md5(raw.read_bytes()).hexdigest(), sha512_of(raw))


@pytest.mark.parametrize(
    ("name", "stored_format", "hashed"),
    [
        ("qcow2", "qcow2", True),
        ("raw", "raw", True),
        ("raw", "qcow2", False),
        ("vmdk", "qcow2", False),
        ("ova", "qcow2", False),
        ("vhdx", "qcow2", False),
        ("vhd-fixed", "qcow2", False),
    ],
)
def test_the_ingest_skips_both_digests_of_a_disk_to_convert(
    corpus: Path, tmp_path: Path, name: str, stored_format: str, hashed: bool
) -> None:
    makers = {
        **DISKS,
        "raw": corpus_vmdk.known_raw,
        "qcow2": lambda corpus: converted(corpus, "qcow2", "compat=1.1", "disk.qcow2"),
        "vhd-fixed": lambda corpus: converted(corpus, "vpc", "subformat=fixed", "fixed.vhd"),
    }
    data = makers[name](corpus).read_bytes()
    declared = DiskFormat.RAW if name == "raw" else None
    inspector = DetectingInspector(
        declared=declared,
        accepted=frozenset(DiskFormat),
        max_virtual_size=1 << 40,
        stored_format=stored_format,
    )
    with FilesystemBlobStore(tmp_path / "blobs").writer("images/x/1") as writer:
        result = ingest(
            [data[i : i + 65536] for i in range(0, len(data), 65536)],
            writer,
            max_bytes=1 << 40,
            max_virtual_size=1 << 40,
            disk_format=stored_format,
            inspector=inspector,
        )
    assert result.size == len(data)
    expected = (hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()) if hashed else (None, None)
    assert (result.checksum, result.os_hash_value) == expected


def _failing_qemu_img(directory: Path, reached: Path, exited: Path) -> Path:
    """A qemu-img that fails once the hashing thread is inside its read (at most 30 s later)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "qemu-img"
    path.write_text(
        "#!/bin/sh\n"
        f"n=0; while [ ! -e {reached} ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done\n"
        "echo 'qemu-img: Could not open the disk' >&2\n"
        f"touch {exited}\n"
        "exit 1\n"
    )
    path.chmod(0o755)
    return path


def test_a_failing_conversion_stops_its_hashing_thread(
    stores: Callable[..., tuple[Services, WatchedStore]], corpus: Path, tmp_path: Path
) -> None:
    reached, exited = tmp_path / "reached", tmp_path / "exited"
    services, store = stores(qemu_img=str(_failing_qemu_img(tmp_path / "bin", reached, exited)))

    def hook(piece: int) -> None:
        if piece == 1:  # inside the read: let qemu-img fail, and go on only once it has
            reached.touch()
            wait_until(exited.exists, what="qemu-img failed")

    store.hook = hook
    owner = services.account("owner")
    staged = upload(services, owner, converted(corpus, "vdi", "static=on", "fixed.vdi"))
    assert convert_all(services) == 1
    job = services.parts.images.import_status(owner, staged.id)
    assert services.parts.images.show(owner, staged.id).status is ImageStatus.KILLED
    assert job.reason is not None and job.reason.startswith("conversion_failed: ")
    assert len(store.reads) == 1
    nothing_left(services, store)
    assert list(services.parts.blobs.keys()) == []


def test_a_cancelled_conversion_stops_its_hashing_thread(
    stores: Callable[..., tuple[Services, WatchedStore]], corpus: Path, tmp_path: Path
) -> None:
    """The image is deleted while qemu-img runs and the hashing thread is inside its read: the
    conversion stops qemu-img, then its hashing thread, and leaves nothing open."""
    reached, pid_file = tmp_path / "reached", tmp_path / "qemu.pid"
    wrapper = tmp_path / "bin" / "qemu-img"
    wrapper.parent.mkdir()
    wrapper.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 600\n")
    wrapper.chmod(0o755)
    services, store = stores(qemu_img=str(wrapper), import_heartbeat_seconds=0.2)
    opened = threading.Event()

    def hook(piece: int) -> None:
        if piece == 1:
            reached.touch()
            opened.wait(60)

    store.hook = hook
    owner = services.account("owner")
    staged = upload(services, owner, converted(corpus, "vdi", "static=on", "fixed.vdi"))
    runner = threading.Thread(target=convert_all, args=(services,))
    runner.start()
    try:
        wait_until(lambda: reached.exists() and pid_file.exists(), what="qemu-img and the hashing thread")
        qemu_pid = int(wait_until(lambda: pid_file.read_text().strip(), what="qemu-img's pid"))
        services.parts.images.delete(owner, staged.id)
        wait_until(lambda: not _running(qemu_pid), what="qemu-img stopped by the cancel")
    finally:
        opened.set()
        runner.join(60)
    assert not runner.is_alive()
    assert len(store.reads) == 1
    nothing_left(services, store)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def test_a_conversion_out_of_time_while_hashing_is_stopped(
    stores: Callable[..., tuple[Services, WatchedStore]], corpus: Path
) -> None:
    """A 1-second limit and an original read at 160 KiB/s: qemu-img ends in time, the hash cannot; the
    wait for it ends at the limit, the thread stops before the end of its read."""
    services, store = stores(conversion_timeout_seconds=1.0)
    store.hook = lambda piece: time.sleep(0.1)
    owner = services.account("owner")
    source = converted(corpus, "vdi", "static=on", "fixed.vdi")
    staged = upload(services, owner, source)
    assert convert_all(services) == 1
    job = services.parts.images.import_status(owner, staged.id)
    assert job.reason is not None and job.reason.startswith("conversion_timeout: "), job.reason
    (read,) = store.reads
    assert read.closed and read.served < source.stat().st_size // PIECE
    nothing_left(services, store)


def test_an_error_while_hashing_fails_the_conversion(
    stores: Callable[..., tuple[Services, WatchedStore]], corpus: Path
) -> None:
    services, store = stores()

    def hook(piece: int) -> None:
        if piece == 2:
            raise BlobStoreUnavailable("reading the original: Input/output error")

    store.hook = hook
    owner = services.account("owner")
    staged = upload(services, owner, DISKS["vmdk"](corpus))
    assert convert_all(services) == 1
    assert services.parts.images.show(owner, staged.id).status is ImageStatus.KILLED
    job = services.parts.images.import_status(owner, staged.id)
    assert (job.status, job.original_key) == (JobStatus.FAILED, None)
    assert job.reason is not None and job.reason.startswith("internal: ")
    nothing_left(services, store)
    assert list(services.parts.blobs.keys()) == []


def test_a_linked_output_is_synced_before_the_image_is_active(
    stores: Callable[..., tuple[Services, WatchedStore]], corpus: Path
) -> None:
    """The output's fsync runs beside its hashing; the image is active only with it done."""
    services, store = stores()
    owner = services.account("owner")
    staged = upload(services, owner, DISKS["vmdk"](corpus))
    assert convert_all(services) == 1
    assert services.parts.images.show(owner, staged.id).status is ImageStatus.ACTIVE
    assert store.synced == list(services.parts.blobs.keys())  # the one blob, synced
    assert not [t for t in threading.enumerate() if t.name.startswith("output-sync")]


def test_an_output_that_cannot_be_synced_fails_the_conversion(
    stores: Callable[..., tuple[Services, WatchedStore]], corpus: Path
) -> None:
    services, store = stores()
    store.sync_error = BlobStoreUnavailable("syncing the converted disk: No space left on device")
    owner = services.account("owner")
    staged = upload(services, owner, DISKS["vmdk"](corpus))
    assert convert_all(services) == 1
    assert services.parts.images.show(owner, staged.id).status is ImageStatus.KILLED
    job = services.parts.images.import_status(owner, staged.id)
    assert (job.status, job.original_key) == (JobStatus.FAILED, None)
    nothing_left(services, store)
    assert list(services.parts.blobs.keys()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("output-sync")]


# --- the digest thread on its own


def _blob(store: FilesystemBlobStore, data: bytes) -> str:
    key = "images/original/1"
    with store.writer(key) as writer:
        writer.write(data)
        writer.commit()
    return key


def test_a_digest_is_the_sha512_of_the_whole_blob(tmp_path: Path) -> None:
    store = WatchedStore(tmp_path / "blobs")
    data = os.urandom(300 << 10)
    key = _blob(store, data)
    with BlobDigest(store, key, len(data)) as digest:
        assert digest.wait(30)
        assert digest.hexdigest() == hashlib.sha512(data).hexdigest()
    (read,) = store.reads
    assert read.closed and hashing_threads() == []


def test_a_stopped_digest_reads_no_further_and_closes_the_blob(tmp_path: Path) -> None:
    store = WatchedStore(tmp_path / "blobs")
    data = os.urandom(1 << 20)
    key = _blob(store, data)
    reached, opened = threading.Event(), threading.Event()

    def hook(piece: int) -> None:
        if piece == 1:
            reached.set()
            opened.wait(30)

    store.hook = hook
    with BlobDigest(store, key, len(data)) as digest:
        assert reached.wait(30)
        digest.stop()
        opened.set()
        assert digest.wait(30)
        with pytest.raises(RuntimeError, match="stopped"):
            digest.hexdigest()
    (read,) = store.reads
    assert (read.served, read.closed) == (2, True)  # the piece it was inside, then nothing more
    assert hashing_threads() == [] and open_files_under(store.root) == []


def test_a_digest_of_fewer_bytes_than_the_original_is_a_conversion_failure(tmp_path: Path) -> None:
    store = WatchedStore(tmp_path / "blobs")
    key = _blob(store, b"x" * 1000)
    with BlobDigest(store, key, 1001) as digest:
        assert digest.wait(30)
        with pytest.raises(Exception, match="holds 1000 bytes where 1001 were expected") as failed:
            digest.hexdigest()
    assert getattr(failed.value, "reason", None) == "conversion_failed"
