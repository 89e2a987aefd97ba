"""The one place where a test finds out that something outside Python is missing, and runs outside tools.

A missing tool (qemu-img, PostgreSQL, the official OpenAPI document, …) skips the test with the reason on
a developer's machine and FAILS it in CI (the ``CI`` variable set, as every CI service does): a CI run that
skipped the disk-image corpus or the PostgreSQL half of the suite must not come out green. Nothing else in
``tests/`` calls ``pytest.skip`` or ``importorskip`` (``tests/unit/test_no_silent_skips.py`` checks).

``run_tool`` runs qemu-img / qemu-io (or any program) and retries the failures qemu reports for reasons
that have nothing to do with the image: LUKS creation times its key derivation with the thread's CPU
clock and gives up with "Unable to get accurate CPU usage" when that clock has not moved yet (a few calls
in thirty on an idle machine).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

T = TypeVar("T")

ATTEMPTS = 5
TOOL_TIMEOUT = 300.0
# Messages of failures that a second attempt can cure; anything else fails at once.
TRANSIENT = ("Unable to get accurate CPU usage",)  # qemu's PBKDF benchmark (LUKS) saw no CPU time elapse


REPOSITORY = Path(__file__).resolve().parents[2]


def reference_file(name: str, variable: str) -> Path:
    """A file of the official reference: the path in ``variable``, else ``shared/reference/NAME`` beside
    the checkout (CI copies shared/ next to its clone), or in the nearest folder above that has one (a
    worktree nested deeper). The path returned may not exist: the caller says what is missing."""
    if os.environ.get(variable):
        return Path(os.environ[variable])
    for folder in REPOSITORY.parents:
        candidate = folder / "shared" / "reference" / name
        if candidate.is_file():
            return candidate
    return REPOSITORY.parent / "shared" / "reference" / name


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(reason: str, *, required: bool = False, module_level: bool = False) -> NoReturn:
    """Skip with ``reason``, or fail when running in CI (or when ``required``)."""
    if required or in_ci():
        pytest.fail(f"{reason} (required here: CI is set or the suite was told to need it)", pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)  # the one allowed call: see the module docstring


def require_tool(*names: str, hint: str, module_level: bool = False) -> str:
    """The path of the first of ``names`` found on PATH; else ``missing``."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    missing(f"{' / '.join(names)} not found: {hint}", module_level=module_level)


def require_qemu(module_level: bool = False) -> None:
    for name in ("qemu-img", "qemu-io"):
        require_tool(name, hint="install Debian's qemu-utils (make test-deps)", module_level=module_level)


class ToolFailed(RuntimeError):
    """A tool exited non-zero (after the retries a transient failure gets); carries its stderr."""

    def __init__(self, args: tuple[str, ...], returncode: int, stderr: str, attempts: int) -> None:
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"{' '.join(args)} failed with exit code {returncode}{tries}: {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr


def is_transient(stderr: str) -> bool:
    return any(message in stderr for message in TRANSIENT)


def run_tool(
    *args: str,
    cwd: Path | None = None,
    attempts: int = ATTEMPTS,
    pause: Callable[[float], None] = time.sleep,
) -> str:
    """Run ``args``, return its stdout; a transient failure is retried, any other raises ``ToolFailed``."""
    for attempt in range(1, attempts + 1):
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
        if done.returncode == 0:
            return done.stdout
        if attempt == attempts or not is_transient(done.stderr):
            raise ToolFailed(args, done.returncode, done.stderr, attempt)
        pause(0.05 * attempt)
    raise AssertionError("unreachable")


def wait_until(
    ready: Callable[[], T],
    *,
    what: str,
    timeout: float = 30.0,
    alive: Callable[[], str | None] = lambda: None,
    interval: float = 0.05,
    accept: Callable[[T], object] = bool,
) -> T:
    """Poll ``ready`` until ``accept`` holds for what it returns (by default: it is truthy), within
    ``timeout`` seconds, and return that value.

    ``alive`` returns why the thing being waited for cannot become ready any more (a process that exited),
    which ends the wait at once instead of at the deadline. When ``accept`` is given, the timeout message
    shows the last value seen, which is what one needs to read a failure."""
    deadline = time.monotonic() + timeout
    while True:
        result = ready()
        if accept(result):
            return result
        gone = alive()
        if gone:
            raise RuntimeError(f"{what}: {gone}")
        if time.monotonic() > deadline:
            last = "" if accept is bool else f"; last seen: {repr(result)[:500]}"
            raise TimeoutError(f"{what}: not ready after {timeout:.0f} s{last}")
        time.sleep(interval)
