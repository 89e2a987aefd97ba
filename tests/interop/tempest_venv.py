"""Tempest in a virtual environment of its own, made on demand and kept between runs.

Tempest pulls in dozens of oslo packages that have nothing to do with the server, so it never goes into
the project's environment: ``.cache/tempest-venv`` (gitignored) holds exactly ``tempest==VERSION`` from
PyPI. A marker file written after a successful install says the environment is complete; a half-made one
(an interrupted pip) is made again. A file lock keeps two test workers from building it at once.

``python -m tests.interop.tempest_venv`` (``make tempest-venv``) makes it and prints its path.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

VERSION = "47.0.0"
REPOSITORY = Path(__file__).resolve().parents[2]
CACHE = REPOSITORY / ".cache"
VENV = CACHE / "tempest-venv"
MARKER = VENV / f".tempest-{VERSION}-installed"
INSTALL_SECONDS = 900.0


class TempestUnavailable(RuntimeError):
    """The environment could not be made (no network to PyPI, pip failed); says what pip said."""


def executable(name: str) -> Path:
    return VENV / "bin" / name


def ensure() -> Path:
    """The venv's directory, made first if needed (``tempest`` and ``stestr`` are in its bin/)."""
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / "tempest-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not MARKER.exists():
            _make()
    return VENV


def _make() -> None:
    shutil.rmtree(VENV, ignore_errors=True)
    steps = (
        [sys.executable, "-m", "venv", str(VENV)],
        [str(executable("python")), "-m", "pip", "install", "-q", f"tempest=={VERSION}"],
    )
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_SECONDS)
        except subprocess.TimeoutExpired as exc:
            raise TempestUnavailable(f"{' '.join(step)} took over {INSTALL_SECONDS:.0f} s") from exc
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()[-2000:]
            raise TempestUnavailable(
                f"{' '.join(step)} failed (exit {done.returncode}): {said}\n"
                "Tempest comes from PyPI: check that pip can reach it, then run make tempest-venv."
            )
    MARKER.write_text(f"tempest=={VERSION}\n")


if __name__ == "__main__":
    print(ensure())
