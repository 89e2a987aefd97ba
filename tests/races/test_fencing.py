"""Stale import attempts are fenced: only the attempt that still owns the job (claimed by, attempt
number) can make the image active, the job ends in the same transaction, and giving up after the last
attempt never turns an active image into killed."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scp_images.app import Components, build_components
from scp_images.config import Settings
from scp_images.domain.image import ImageSpec, ImageStatus, new_image
from scp_images.domain.jobs import JobSource, JobStatus
from scp_images.services.upkeep.import_jobs import MAX_ATTEMPTS, ImportRunner, RunnerTimings
from scp_images.store.sql import images as image_store
from scp_images.store.sql import imports as job_store
from tests.races.helpers import Gate

STALE = 60.0


class MovableClock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def parts(settings: Settings, clock: MovableClock) -> Iterator[Components]:
    built = build_components(settings, clock=clock)
    yield built
    built.close()


def runner(parts: Components, name: str, clock: MovableClock) -> ImportRunner:
    timings = RunnerTimings(heartbeat_seconds=3600, stale_seconds=STALE)
    return ImportRunner(
        parts.db, parts.ingest, parts.import_sources, timings=timings, clock=clock, worker_id=name
    )


def url_import(parts: Components, clock: MovableClock) -> str:
    """A queued image with a pending URL job, written as ImageService.create writes them."""
    account = parts.accounts.create_account("fenced")
    spec = ImageSpec("fenced", account.id, "ubuntu", url="https://example.invalid/x.qcow2")
    image = new_image(spec, clock())
    with parts.db.transaction() as conn:
        image_store.insert_image(conn, image)
        job_store.put_job(conn, image.id, image.url, JobSource.URL, clock(), JobStatus.PENDING)
    return image.id


def paused(path: Path, gate: Gate) -> Iterator[bytes]:
    """The file's bytes, stopping at ``gate`` after the first chunk, as a stalled source would."""
    data = path.read_bytes()
    yield data[: 1 << 16]
    gate.stop_here()
    yield data[1 << 16 :]


def state(parts: Components, image_id: str) -> tuple[Any, Any]:
    with parts.db.read() as conn:
        return image_store.get_image(conn, image_id), job_store.get_job(conn, image_id)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _claim_twice(parts: Components, clock: MovableClock, image_id: str) -> tuple[Any, Any]:
    first = runner(parts, "w1", clock).claim_next()
    assert first is not None and first.attempts == 1
    clock.advance(STALE + 1)  # w1 has not beaten since: it looks dead
    second = runner(parts, "w2", clock).claim_next()
    assert second is not None and (second.image_id, second.attempts, second.claimed_by) == (image_id, 2, "w2")
    return first, second


def _run(parts: Components, fence: Any, chunks: Iterator[bytes], out: list[Any]) -> threading.Thread:
    thread = threading.Thread(target=lambda: out.append(parts.ingest.ingest_or_kill(fence, chunks)))
    thread.start()
    return thread


def test_a_stale_attempt_that_finishes_first_cannot_publish(
    parts: Components, clock: MovableClock, make_qcow2: Any
) -> None:
    image_id = url_import(parts, clock)
    old_bytes, new_bytes = make_qcow2("old.qcow2", "32M"), make_qcow2("new.qcow2", "48M")
    first_gate, second_gate = Gate(), Gate()
    first_out: list[Any] = []
    first = runner(parts, "w1", clock).claim_next()
    assert first is not None
    first_thread = _run(parts, first.fence, paused(old_bytes, first_gate), first_out)
    first_gate.wait_reached()
    clock.advance(STALE + 1)
    second = runner(parts, "w2", clock).claim_next()
    assert second is not None and second.attempts == 2
    second_out: list[Any] = []
    second_thread = _run(parts, second.fence, paused(new_bytes, second_gate), second_out)
    second_gate.wait_reached()
    first_gate.opened.set()  # the stale attempt wakes up and finishes first
    first_thread.join(60)
    assert first_out == [None]
    image, job = state(parts, image_id)
    assert image.status is ImageStatus.IMPORTING and image.blob_key is None
    assert (job.status, job.claimed_by, job.attempts) == (JobStatus.RUNNING, "w2", 2)
    second_gate.opened.set()
    second_thread.join(60)
    image, job = state(parts, image_id)
    assert (image.status, image.checksum) == (ImageStatus.ACTIVE, md5(new_bytes))
    assert (job.status, job.claimed_by, job.staging_key) == (JobStatus.SUCCEEDED, "w2", None)
    assert sorted(parts.blobs.keys()) == [image.blob_key]


def test_a_stale_attempt_that_finishes_last_changes_nothing(
    parts: Components, clock: MovableClock, make_qcow2: Any
) -> None:
    image_id = url_import(parts, clock)
    old_bytes, new_bytes = make_qcow2("old.qcow2", "32M"), make_qcow2("new.qcow2", "48M")
    gate = Gate()
    out: list[Any] = []
    first = runner(parts, "w1", clock).claim_next()
    assert first is not None
    thread = _run(parts, first.fence, paused(old_bytes, gate), out)
    gate.wait_reached()
    clock.advance(STALE + 1)
    second = runner(parts, "w2", clock).claim_next()
    assert second is not None
    assert parts.ingest.ingest_or_kill(second.fence, iter([new_bytes.read_bytes()])) is not None
    gate.opened.set()
    thread.join(60)
    assert out == [None]
    image, job = state(parts, image_id)
    assert (image.status, image.checksum) == (ImageStatus.ACTIVE, md5(new_bytes))
    assert (job.status, job.claimed_by, job.reason) == (JobStatus.SUCCEEDED, "w2", None)
    assert sorted(parts.blobs.keys()) == [image.blob_key]


def test_a_stale_attempt_that_fails_does_not_kill_the_new_one(
    parts: Components, clock: MovableClock, make_qcow2: Any, tmp_path: Path
) -> None:
    image_id = url_import(parts, clock)
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a disk image" * 1000)
    first, second = _claim_twice(parts, clock, image_id)
    assert parts.ingest.ingest_or_kill(first.fence, iter([garbage.read_bytes()])) is None
    image, job = state(parts, image_id)
    assert (image.status, job.status, job.claimed_by) == (ImageStatus.IMPORTING, JobStatus.RUNNING, "w2")
    assert parts.ingest.ingest_or_kill(second.fence, iter([make_qcow2().read_bytes()])) is not None
    assert state(parts, image_id)[0].status is ImageStatus.ACTIVE


def test_giving_up_never_kills_an_active_image(parts: Components, clock: MovableClock) -> None:
    """The state a crash between publishing and ending the job left before both became one transaction:
    the image active, its job still running on its last attempt with a dead writer."""
    image_id = url_import(parts, clock)
    with parts.db.transaction() as conn:
        image_store.move(conn, image_id, ImageStatus.QUEUED, ImageStatus.IMPORTING)
        image_store.move(
            conn, image_id, ImageStatus.IMPORTING, ImageStatus.ACTIVE, {"checksum": "0" * 32, "size": 1}
        )
        conn.execute(
            job_store.image_imports.update()
            .where(job_store.image_imports.c.image_id == image_id)
            .values(status="running", attempts=MAX_ATTEMPTS, claimed_by="dead", heartbeat_at=clock())
        )
    clock.advance(STALE + 1)
    assert runner(parts, "w9", clock).claim_next() is None
    image, job = state(parts, image_id)
    assert image.status is ImageStatus.ACTIVE
    assert job.status is JobStatus.FAILED and "gave up" in job.reason


def test_giving_up_kills_an_image_still_importing(parts: Components, clock: MovableClock) -> None:
    image_id = url_import(parts, clock)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        job = runner(parts, f"w{attempt}", clock).claim_next()
        assert job is not None and job.attempts == attempt
        clock.advance(STALE + 1)
    assert runner(parts, "last", clock).claim_next() is None
    image, job = state(parts, image_id)
    assert (image.status, job.status) == (ImageStatus.KILLED, JobStatus.FAILED)


def test_publishing_and_ending_the_job_are_one_transaction(
    parts: Components, clock: MovableClock, make_qcow2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_id = url_import(parts, clock)
    job = runner(parts, "w1", clock).claim_next()
    assert job is not None

    def lost(*_: Any, **__: Any) -> bool:
        return False  # the image moved away between the job's end and the publish

    monkeypatch.setattr(image_store, "move", lost)
    assert parts.ingest.ingest_or_kill(job.fence, iter([make_qcow2().read_bytes()])) is None
    monkeypatch.undo()
    image, after = state(parts, image_id)
    assert image.status is ImageStatus.IMPORTING and image.blob_key is None
    assert (after.status, after.claimed_by) == (JobStatus.RUNNING, "w1")  # its end was rolled back too
    assert list(parts.blobs.keys()) == []


def test_a_claim_loses_to_a_writer_that_beat_in_between(parts: Components, clock: MovableClock) -> None:
    image_id = url_import(parts, clock)
    first = runner(parts, "w1", clock).claim_next()
    assert first is not None
    clock.advance(STALE + 1)
    with parts.db.read() as conn:
        seen = job_store.get_job(conn, image_id)
    with parts.db.transaction() as conn:  # w1 proves it is alive after w2 looked
        assert job_store.heartbeat(conn, first.fence, clock(), 10)
    stale_before = clock() - timedelta(seconds=STALE)
    with parts.db.transaction() as conn:
        assert seen is not None
        assert not job_store.claim(conn, seen, "w2", clock(), stale_before)
    assert state(parts, image_id)[1].claimed_by == "w1"
