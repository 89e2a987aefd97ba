"""A worker that is told to stop hands its running job back, so another takes it at once; a worker that
dies is taken over by another (within 15 s with the default heartbeat and stale limit)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from scp_images.app import build_components
from scp_images.config import Settings
from scp_images.services.upkeep.import_jobs import RunnerTimings
from scp_images.store.sql.imports import get_job
from tests.api.helpers import file_digests
from tests.conftest import run
from tests.faults.test_import_crash import import_status, settled, start_mid_import
from tests.support.process import ServerProcess, WorkerProcess, settings_env
from tests.support.slow_source import SlowSource
from tests.support.stack import Key
from tests.support.tools import wait_until


def test_sigterm_hands_the_job_back_and_another_worker_takes_it_at_once(
    crash_settings: Settings, key: Key, source: SlowSource, make_qcow2: Any, tmp_path: Path
) -> None:
    path = make_qcow2("handover.qcow2", "64M")
    url = source.add("handover.qcow2", path.read_bytes())
    # A stale limit far beyond the test's patience: only a hand-over lets the second worker in.
    never_stale = {"run_import_jobs": False, "import_stale_seconds": 600}
    slow_to_give_up = crash_settings.model_copy(update=never_stale)
    env = settings_env(slow_to_give_up, SSL_CERT_FILE=str(source.ca_file))
    server = ServerProcess(env, tmp_path / "server.log")
    first = WorkerProcess(env, tmp_path / "worker1.log")
    second = None
    try:
        image_id = start_mid_import(server.base_url, key, url)
        started = time.monotonic()
        first.stop()  # SIGTERM
        assert first.proc.returncode == 0
        assert time.monotonic() - started < 15
        job = import_status(server.base_url, key, image_id)
        assert (job["status"], job["bytes_read"]) == ("pending", 0)
        source.hurry()
        second = WorkerProcess(env, tmp_path / "worker2.log")
        shown = settled(server.base_url, key, image_id)
        assert (shown["status"], shown["checksum"]) == ("active", file_digests(path)[0])
    finally:
        if second is not None:
            second.stop()
        server.stop()


def _job(settings: Settings, image_id: str) -> Any:
    parts = build_components(settings)
    try:
        with parts.db.read() as conn:
            return get_job(conn, image_id)
    finally:
        parts.close()


def test_the_default_timings_take_a_dead_writer_over_within_15_seconds() -> None:
    """A job is claimable once its newest beat is older than the stale limit; a runner polls at least every
    idle poll. Whatever the machine's load, the bound the defaults give is what the docs promise."""
    defaults, timings = Settings(), RunnerTimings()
    assert defaults.import_heartbeat_seconds * 4 <= defaults.import_stale_seconds  # margin for a slow disk
    assert defaults.import_stale_seconds + timings.idle_poll_seconds <= 15


def test_a_dead_workers_job_is_taken_over_with_the_default_timings(
    crash_settings: Settings, key: Key, source: SlowSource, make_qcow2: Any, tmp_path: Path
) -> None:
    # 24 MiB of data: at the slow source's pace the import outlasts the takeover by far.
    path = make_qcow2("takeover.qcow2", "64M", data=False)
    run("qemu-io", "-c", "write -P 0x7e 0 24M", str(path))
    url = source.add("takeover.qcow2", path.read_bytes())
    defaults = Settings()
    timings = {
        "run_import_jobs": False,
        "import_heartbeat_seconds": defaults.import_heartbeat_seconds,
        "import_stale_seconds": defaults.import_stale_seconds,
    }
    settings = crash_settings.model_copy(update=timings)
    env = settings_env(settings, SSL_CERT_FILE=str(source.ca_file))
    server = ServerProcess(env, tmp_path / "server.log")
    workers = [WorkerProcess(env, tmp_path / f"worker{n}.log") for n in (1, 2)]
    try:
        image_id = start_mid_import(server.base_url, key, url)
        job = _job(settings, image_id)
        (dead,) = [w for w in workers if f":{w.proc.pid}:" in job.claimed_by]
        dead.kill()
        taken = wait_until(
            lambda: _job(settings, image_id),
            accept=lambda now: now.attempts != job.attempts,
            what="the job taken over",
            timeout=60,
            interval=0.2,
        )
        assert taken.claimed_by != job.claimed_by and f":{dead.proc.pid}:" not in taken.claimed_by
        source.hurry()
        shown = settled(server.base_url, key, image_id)
        assert (shown["status"], shown["checksum"]) == ("active", file_digests(path)[0])
    finally:
        for worker in workers:
            worker.stop()
        server.stop()
