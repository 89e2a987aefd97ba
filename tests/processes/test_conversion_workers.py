"""Conversions run by real ``scp-images worker`` processes: one SIGKILLed while qemu-img runs is taken over
by another, which converts from the staged original; and workers on one host never run more conversions at
once than CONVERSIONS_PER_HOST (a lock in the conversion directory, shared by every process)."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scp_images.app import build_components
from scp_images.config import Settings
from scp_images.domain.image import ImageSpec
from scp_images.store.sql import images as image_store
from scp_images.store.sql.imports import get_job
from tests.support import corpus_vmdk
from tests.support.process import WorkerProcess, settings_env
from tests.support.tools import require_qemu, run_tool, wait_until

# A qemu-img that notes each call's start and end (and whether another call held the host-wide lock file at
# its start), pauses (so a kill can land inside the conversion, and calls would overlap if they could),
# then runs the real qemu-img.
_WRAPPER = """#!{python} -I
import fcntl, json, os, subprocess, sys, time
calls, lock = {log!r}, {lock!r}
def note(**record):
    with open(calls, "a") as out:
        out.write(json.dumps(dict(pid=os.getpid(), at=time.time(), **record)) + "\\n")
held = open(lock, "a")
try:
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    overlap = False
except BlockingIOError:
    overlap = True
note(event="start", overlap=overlap)
first = not os.path.exists(calls + ".first")
open(calls + ".first", "a").close()
time.sleep({first_pause} if first else {pause})
done = subprocess.run([{real!r}, *sys.argv[1:]])
note(event="end")
sys.exit(done.returncode)
"""


def _wrapper(directory: Path, pause: float, first_pause: float | None = None) -> tuple[Path, Path]:
    """A qemu-img that logs its calls, sleeps ``pause`` seconds (the first call ``first_pause``), then
    runs the real one."""
    require_qemu()
    directory.mkdir(parents=True, exist_ok=True)
    log, path = directory / "calls.jsonl", directory / "qemu-img"
    real = run_tool("sh", "-c", "command -v qemu-img").strip()
    script = _WRAPPER.format(
        python=sys.executable,
        log=str(log),
        lock=str(directory / "running.lock"),
        pause=pause,
        first_pause=pause if first_pause is None else first_pause,
        real=real,
    )
    path.write_text(script)
    path.chmod(0o755)
    return path, log


def _running(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _calls(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus"
    path.mkdir()
    return path


def _staged(settings: Settings, disk: Path, count: int) -> list[str]:
    """``count`` images of one account whose uploaded VMDK is staged, waiting for a conversion worker."""
    parts = build_components(settings)
    try:
        account = parts.accounts.create_account("converting")
        principal = parts.accounts.create_key(account.id, "c@example.com").principal()
        ids = []
        for n in range(count):
            image = parts.images.create(principal, ImageSpec(name=f"disk-{n}", os_distro="ubuntu"))
            fence = parts.images.begin_upload(principal, image.id, "tests:upload")
            result = parts.ingest.ingest_or_kill(fence, [disk.read_bytes()], reraise=True)
            assert result is not None and result.staged
            ids.append(image.id)
        return ids
    finally:
        parts.close()


def _original_sha512(settings: Settings, image_id: str) -> tuple[str | None, str | None]:
    """The original's sha512 on the image and on its job."""
    parts = build_components(settings)
    try:
        with parts.db.read() as conn:
            image = image_store.get_image(conn, image_id)
            job = get_job(conn, image_id)
        assert image is not None and job is not None and job.original is not None
        return image.original_sha512, job.original.sha512
    finally:
        parts.close()


def _rows(settings: Settings, ids: list[str]) -> list[tuple[str, str, int]]:
    """(status, disk_format, attempts) of each image and its job."""
    return list(_image_rows(settings, ids))


def _image_rows(settings: Settings, ids: list[str]) -> Iterator[tuple[str, str, int]]:
    parts = build_components(settings)
    try:
        with parts.db.read() as conn:
            for image_id in ids:
                image = image_store.get_image(conn, image_id)
                job = get_job(conn, image_id)
                assert image is not None and job is not None
                yield image.status.value, image.disk_format, job.attempts
    finally:
        parts.close()


def _worker_settings(settings: Settings, wrapper: Path, **more: object) -> Settings:
    update = {
        "qemu_img": str(wrapper),
        "import_heartbeat_seconds": 0.2,
        "import_stale_seconds": 2.0,
        "orphan_grace_seconds": 1.0,
        **more,
    }
    return settings.model_copy(update=update)


def test_a_worker_killed_inside_a_conversion_is_taken_over_from_the_original(
    settings: Settings, corpus: Path, tmp_path: Path
) -> None:
    # The first call sleeps far longer than the test waits: only its death can end it in time.
    wrapper, log = _wrapper(tmp_path / "bin", pause=3.0, first_pause=600.0)
    settings = _worker_settings(settings, wrapper)
    disk = corpus_vmdk.stream_optimized(corpus)
    (image_id,) = _staged(settings, disk, 1)
    assert _original_sha512(settings, image_id) == (None, None)  # computed by the conversion, not yet
    env = settings_env(settings)
    first = WorkerProcess(env, tmp_path / "worker1.log")
    second = None
    try:
        wait_until(lambda: _calls(log), what="qemu-img started by the first worker", timeout=60)
        first.kill()  # SIGKILL, inside the conversion
        # Its qemu-img dies with it (the parent-death signal), instead of running on unowned.
        orphan = int(_calls(log)[0]["pid"])  # type: ignore[call-overload]
        wait_until(lambda: not _running(orphan), what="the dead worker's qemu-img gone", timeout=30)
        second = WorkerProcess(env, tmp_path / "worker2.log")
        done = wait_until(
            lambda: _rows(settings, [image_id])[0],
            accept=lambda row: row[0] in ("active", "killed"),
            what="the conversion finished by the second worker",
            timeout=90,
            interval=0.3,
        )
        assert done == ("active", "qcow2", 2)  # claimed again once, and converted from the staged original
        # The second worker computed the original's sha512 itself (the first died before it was known).
        sha512 = hashlib.sha512(disk.read_bytes()).hexdigest()
        assert _original_sha512(settings, image_id) == (sha512, sha512)
        conversions = settings.resolved_conversion_dir()
        wait_until(
            lambda: list(conversions.glob("job-*")),
            accept=lambda left: left == [],
            what="the dead worker's job directory swept",
            timeout=30,
        )
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
    starts = [c for c in _calls(log) if c["event"] == "start"]
    assert len(starts) == 2 and starts[0]["pid"] != starts[1]["pid"]


def test_two_workers_of_one_host_never_run_more_conversions_than_allowed(
    settings: Settings, corpus: Path, tmp_path: Path
) -> None:
    wrapper, log = _wrapper(tmp_path / "bin", pause=1.0)
    settings = _worker_settings(settings, wrapper, conversions_per_host=1)
    ids = _staged(settings, corpus_vmdk.monolithic_sparse(corpus), 3)
    env = settings_env(settings)
    workers = [WorkerProcess(env, tmp_path / f"worker{n}.log") for n in (1, 2)]
    try:
        wait_until(
            lambda: _rows(settings, ids),
            accept=lambda rows: all(row[0] in ("active", "killed") for row in rows),
            what="three conversions finished",
            timeout=120,
            interval=0.3,
        )
    finally:
        for worker in workers:
            worker.stop()
    assert [row[:2] for row in _rows(settings, ids)] == [("active", "qcow2")] * 3
    calls = _calls(log)
    assert [c["event"] for c in calls] == ["start", "end"] * 3  # one after the other, never two at once
    assert not any(c.get("overlap") for c in calls)
