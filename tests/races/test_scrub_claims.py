"""The continuous scrub with several workers: each image is claimed like a job, so in every cycle each is
checked exactly once, however the workers' claims interleave; a dead worker's claim expires; an unreadable
image is tried again later and never flagged. And ``scp-images worker`` runs it for real."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from scp_images.app import Components, build_components
from scp_images.config import Settings
from scp_images.domain.image import DataFlag, Visibility
from scp_images.services.clock import system_clock
from scp_images.services.data.ingest import PublishRequest
from scp_images.services.upkeep.scrub import Outcome, Pacer, ScrubTimings, ScrubWorker
from scp_images.store.sql import images as image_store
from scp_images.store.sql import scrub as scrub_store
from tests.support.process import settings_env
from tests.support.stack import free_port
from tests.support.tools import wait_until

IMAGES = 6
WORKERS = 2


@pytest.fixture
def parts(settings: Settings) -> Iterator[Components]:
    built = build_components(settings)
    yield built
    built.close()


def _publish(parts: Components, disk: Path, count: int) -> set[str]:
    owner = parts.accounts.create_account("scrubbed")
    request = PublishRequest(str(disk), "scrubbed", "ubuntu", owner.id, Visibility.PRIVATE)
    return {parts.ingest.publish_file(request).id for _ in range(count)}


def _worker(parts: Components, name: str, clock: Any = system_clock, **timing: float) -> ScrubWorker:
    timings = ScrubTimings(rate=float("inf"), cycle_seconds=timing.pop("cycle_seconds", 0.0), **timing)
    return ScrubWorker(parts.scrubber, parts.db, timings, name, clock=clock, skip_locked=parts.db.is_postgres)


def _flag(parts: Components, image_id: str) -> DataFlag | None:
    with parts.db.read() as conn:
        image = image_store.get_image(conn, image_id)
    assert image is not None
    return image.data_flag


def test_each_image_is_checked_once_per_cycle_by_two_workers(
    settings: Settings, parts: Components, make_qcow2: Any
) -> None:
    ids = _publish(parts, make_qcow2("c.qcow2", "1M", data=False), IMAGES)
    # Each worker has its own engine and pool, like a process of its own.
    others = [build_components(settings) for _ in range(WORKERS)]
    workers = [_worker(other, f"w{n}") for n, other in enumerate(others)]
    barrier = threading.Barrier(WORKERS)
    seen: list[tuple[int, str, str]] = []
    lock = threading.Lock()
    rounds = 3 * IMAGES  # enough for two whole cycles and the start of a third

    def work(worker: ScrubWorker) -> None:
        for _ in range(rounds):
            barrier.wait(timeout=60)  # both claim at the same moment, every round
            checked = worker.step(Pacer(None))
            if checked is not None:
                cycle, finding = checked
                with lock:
                    seen.append((cycle, finding.image_id, worker.worker_id))

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        for other in others:
            other.close()

    cycles = sorted({cycle for cycle, _, _ in seen})
    complete = cycles[:-1]  # the last one may have been cut off by the end of the rounds
    assert len(complete) >= 2, seen
    for cycle in complete:
        counts = Counter(image_id for c, image_id, _ in seen if c == cycle)
        assert counts == Counter(ids), (cycle, counts)
    assert {name for _, _, name in seen} == {"w0", "w1"}  # both did share the work


def test_a_dead_workers_claim_expires_and_the_image_is_checked_by_another(
    parts: Components, make_qcow2: Any
) -> None:
    (image_id,) = _publish(parts, make_qcow2("d.qcow2", "1M", data=False), 1)
    offset = [timedelta(0)]

    def clock() -> datetime:
        return system_clock() + offset[0]

    now = clock()
    with parts.db.transaction() as conn:
        claimed = scrub_store.claim_next(conn, 1, "dead", now, now + timedelta(seconds=60), skip_locked=False)
    assert claimed is not None and claimed.id == image_id
    alive = _worker(parts, "alive", clock, claim_seconds=60.0, cycle_seconds=1e10)

    assert alive.step(Pacer(None)) is None  # the claim is live: not checked twice
    offset[0] = timedelta(seconds=61)
    checked = alive.step(Pacer(None))

    assert checked is not None and checked[1].image_id == image_id and checked[1].outcome is Outcome.FINE
    assert alive.step(Pacer(None)) is None  # done for this cycle


def test_an_unreadable_image_is_retried_later_and_never_flagged(parts: Components, make_qcow2: Any) -> None:
    """A read that fails for another reason than "no such file" (EIO, EACCES; here a symlink loop, as
    tests run as root) is an unreadable store, not lost data."""
    (image_id,) = _publish(parts, make_qcow2("u.qcow2", "1M", data=False), 1)
    with parts.db.read() as conn:
        image = image_store.get_image(conn, image_id)
    assert image is not None and image.blob_key
    path = Path(parts.blobs.root) / image.blob_key  # type: ignore[attr-defined]
    kept = path.with_name("kept")
    path.rename(kept)
    os.symlink(path.name, path)
    offset = [timedelta(0)]

    def clock() -> datetime:
        return system_clock() + offset[0]

    worker = _worker(parts, "w", clock, retry_seconds=30.0, cycle_seconds=1e10)
    first = worker.step(Pacer(None))
    assert first is not None and first[1].outcome is Outcome.UNREADABLE
    assert _flag(parts, image_id) is None
    assert worker.step(Pacer(None)) is None  # waits for its retry

    path.unlink()
    kept.rename(path)
    offset[0] = timedelta(seconds=31)
    again = worker.step(Pacer(None))
    assert again is not None and again[1].outcome is Outcome.FINE
    assert _flag(parts, image_id) is None


def test_the_worker_process_scrubs_flags_and_counts(
    settings: Settings, parts: Components, make_qcow2: Any, tmp_path: Path
) -> None:
    disk = make_qcow2("w.qcow2", "8M")
    ids = sorted(_publish(parts, disk, 2))
    with parts.db.read() as conn:
        damaged = image_store.get_image(conn, ids[0])
    assert damaged is not None and damaged.blob_key
    blob = Path(parts.blobs.root) / damaged.blob_key  # type: ignore[attr-defined]
    data = bytearray(blob.read_bytes())
    data[1000] ^= 0xFF
    blob.write_bytes(bytes(data))
    port = free_port()
    env = settings_env(settings, SCP_IMAGES_SCRUB_RATE="50", SCP_IMAGES_SCRUB_CYCLE_SECONDS="3600")
    log = (tmp_path / "worker.log").open("wb")
    command = [sys.executable, "-m", "scp_images.cli", "worker", "--metrics-port", str(port)]
    proc = subprocess.Popen([*command, "--log-format", "json"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _flag(parts, ids[0]) is DataFlag.CORRUPT, what="the corrupt flag", timeout=120)
        wait_until(lambda: _metrics(port).get("fine", 0) >= 1, what="the fine image's count", timeout=120)
        metrics = _metrics(port)
        assert metrics["corrupt"] == 1 and metrics["fine"] == 1
        assert _flag(parts, ids[1]) is None
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    text = (tmp_path / "worker.log").read_text()
    assert "scrubbing at 50 MiB/s" in text and f"image {ids[0]} is corrupt" in text


def _metrics(port: int) -> dict[str, float]:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    found = {}
    for line in text.splitlines():
        if line.startswith("scp_images_scrub_images_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            found[outcome] = float(line.split()[-1])
    return found
