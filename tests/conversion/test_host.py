"""``ConversionHost``: slots and job directories shared by the processes of one host through ``flock``,
let go when a process dies; the temporary-space ceiling; the sweep of what dead processes left."""

from __future__ import annotations

import multiprocessing
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from scp_images.conversion.host import ConversionHost
from scp_images.domain.errors import DiskImageRejected
from tests.conversion import host_workers
from tests.support.tools import wait_until

SPAWN = multiprocessing.get_context("spawn")  # no fork of a threaded test process
GiB = 1 << 30


@contextmanager
def child(target: Any, *args: Any) -> Iterator[Any]:
    process = SPAWN.Process(target=target, args=args, daemon=True)
    process.start()
    try:
        yield process
    finally:
        if process.is_alive():
            process.kill()
        process.join(30)


def test_a_slot_held_by_another_process_is_not_given_until_it_lets_go(tmp_path: Path) -> None:
    host = ConversionHost(tmp_path, 1, GiB)
    held, release = SPAWN.Event(), SPAWN.Event()
    with child(host_workers.hold_slot, tmp_path, held, release) as process:
        assert held.wait(60)
        assert host.try_slot() is None
        with host.slot() as got:
            assert got is False
        release.set()
        process.join(60)
        assert process.exitcode == 0
    slot = host.try_slot()
    assert slot is not None
    slot.release()


def test_two_processes_contending_never_hold_one_slot_together(tmp_path: Path) -> None:
    start = SPAWN.Barrier(2)
    holders, most, taken = SPAWN.Value("i", 0), SPAWN.Value("i", 0), SPAWN.Value("i", 0)
    args = (tmp_path, start, holders, most, taken, 300)
    with child(host_workers.contend, *args) as first, child(host_workers.contend, *args) as second:
        first.join(120)
        second.join(120)
        assert (first.exitcode, second.exitcode) == (0, 0)
    assert taken.value > 0
    assert most.value == 1


def test_a_slot_holder_killed_by_sigkill_frees_its_slot(tmp_path: Path) -> None:
    host = ConversionHost(tmp_path, 1, GiB)
    held, release = SPAWN.Event(), SPAWN.Event()
    with child(host_workers.hold_slot, tmp_path, held, release) as process:
        assert held.wait(60)
        assert host.try_slot() is None
        process.kill()
        process.join(30)
    slot = wait_until(host.try_slot, what="the dead holder's slot is free", timeout=10)
    slot.release()


def test_as_many_conversions_at_once_as_there_are_slots(tmp_path: Path) -> None:
    host = ConversionHost(tmp_path / "conversions", 2, GiB)
    first, second = host.try_slot(), host.try_slot()
    assert first is not None and second is not None and first.index != second.index
    assert host.try_slot() is None  # the same process opening the file again is refused too
    first.release()
    again = host.try_slot()
    assert again is not None and again.index == first.index
    again.release()
    second.release()
    assert stat.S_IMODE((tmp_path / "conversions").stat().st_mode) == 0o700


def test_a_workspace_is_private_locked_and_removed_whatever_happens(tmp_path: Path) -> None:
    host = ConversionHost(tmp_path, 1, GiB)
    with host.workspace(1000) as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
        assert path.parent == tmp_path and (path / ".lock").is_file()
        (path / "output").write_bytes(b"x" * 10)
        assert host.sweep() == 0  # ours: in use
        assert path.exists()
    assert not path.exists()

    with pytest.raises(RuntimeError), host.workspace(1000) as failed:
        raise RuntimeError("the conversion failed")
    assert not failed.exists()


def test_a_job_needing_more_than_the_ceiling_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    host = ConversionHost(tmp_path, 1, 100 * 1024)
    with pytest.raises(DiskImageRejected) as refused, host.workspace(100 * 1024 + 1):
        pytest.fail("a workspace was made")
    assert refused.value.reason == "no_temp_space"
    assert not list(tmp_path.glob("job-*"))


def test_running_jobs_hold_their_share_of_the_ceiling(tmp_path: Path) -> None:
    host = ConversionHost(tmp_path, 2, 100)
    with host.workspace(60):
        with pytest.raises(DiskImageRejected) as refused, host.workspace(50):
            pytest.fail("the ceiling was counted twice")
        assert refused.value.reason == "no_temp_space"
        assert "already running" in refused.value.params["detail"]
        with host.workspace(40):
            pass
    with host.workspace(100):
        pass


def test_a_job_needing_more_than_the_free_space_is_refused(tmp_path: Path) -> None:
    info = os.statvfs(tmp_path)
    free = info.f_bavail * info.f_frsize
    host = ConversionHost(tmp_path, 1, free * 4)
    with pytest.raises(DiskImageRejected) as refused, host.workspace(free * 2):
        pytest.fail("a workspace was made")
    assert refused.value.reason == "no_temp_space"
    assert "free" in refused.value.params["detail"]


def test_sweep_removes_what_a_dead_process_left_and_nothing_in_use(tmp_path: Path) -> None:
    host = ConversionHost(tmp_path, 1, 1000)
    made, ready = SPAWN.Queue(), SPAWN.Event()
    with child(host_workers.hold_workspace, tmp_path, 1000, made, ready) as process:
        assert ready.wait(60)
        theirs = Path(made.get(timeout=10))
        assert host.sweep() == 0  # alive: kept
        process.kill()
        process.join(30)
    half_made = tmp_path / "job-halfmade"  # a process died between mkdtemp and its lock file
    half_made.mkdir(mode=0o700)
    with host.workspace(1000) as ours:  # the dead job's reservation does not count any more
        assert theirs.exists()
        assert host.sweep() == 2
        assert not theirs.exists() and not half_made.exists()
        assert ours.exists()
    assert host.sweep() == 0


def test_the_temporary_directory_must_be_a_plain_absolute_path() -> None:
    for bad in (Path("relative"), Path("/tmp/json:{}"), Path("/tmp/a:b")):
        with pytest.raises(ValueError):
            ConversionHost(bad, 1, GiB)
