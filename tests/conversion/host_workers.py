"""What the child processes of ``test_host.py`` run (importable by name, as ``spawn`` needs)."""

from __future__ import annotations

import time
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

from scp_images.conversion.host import ConversionHost


def hold_slot(temp_dir: Path, held: Event, release: Event) -> None:
    """Take the one slot, say so, and keep it until told (or killed)."""
    slot = ConversionHost(temp_dir, 1, 1 << 30).try_slot()
    assert slot is not None, "the slot was free"
    held.set()
    release.wait(120)
    slot.release()


def contend(temp_dir: Path, start: Barrier, holders: Any, most: Any, taken: Any, rounds: int) -> None:
    """Try the one slot ``rounds`` times; while holding it, count the holders and keep the most seen."""
    host = ConversionHost(temp_dir, 1, 1 << 30)
    start.wait(60)
    for _ in range(rounds):
        slot = host.try_slot()
        if slot is None:
            continue
        with slot:
            with holders.get_lock():
                holders.value += 1
                most.value = max(most.value, holders.value)
                taken.value += 1
            time.sleep(0.001)
            with holders.get_lock():
                holders.value -= 1


def hold_workspace(temp_dir: Path, need: int, made: Any, ready: Event) -> None:
    """Open a job directory, say where, and stay until killed."""
    with ConversionHost(temp_dir, 1, 1 << 30).workspace(need) as path:
        (path / "input").write_bytes(b"x" * 4096)
        made.put(str(path))
        ready.set()
        time.sleep(600)
