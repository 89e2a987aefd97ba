"""Rich progress bars for uploads, downloads and imports, drawn on stderr so ``--json`` stays clean.
A bar appears only on a terminal, without ``--json``, and once there is progress to show (an image that
is already active shows none). Sizes and speeds are in binary units (MiB, GiB), as the tables show them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from scp_images.cli._output import err_console, human_size, safe
from scp_images.client import ImportStatus


class _SpeedColumn(ProgressColumn):
    """``12 MiB/s``: Rich's own speed column counts in decimal megabytes."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("?" if speed is None else f"{human_size(int(speed))}/s", style="progress.data.speed")


class Bar:
    """``bytes`` fits the SDK's ``progress`` callbacks; ``import_status`` fits ``wait(on_progress=)``."""

    def __init__(self, description: str, quiet: bool = False) -> None:
        self._description = safe(description)
        self._quiet = quiet or not err_console.is_terminal
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(binary_units=True),
            _SpeedColumn(),
            TimeRemainingColumn(),
            console=err_console,
        )
        self._task: TaskID | None = None

    def bytes(self, done: int, total: int | None) -> None:
        self._show(done, total, self._description)

    def import_status(self, status: ImportStatus) -> None:
        total = status.bytes_total
        if total is None and status.status == "succeeded":
            total = status.bytes_read
        self._show(status.bytes_read, total, f"{self._description} (import {safe(status.status)})")

    def _show(self, done: int, total: int | None, description: str) -> None:
        if self._quiet:
            return
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task(description, total=total)
        self._progress.update(self._task, completed=done, total=total, description=description)

    def close(self) -> None:
        if self._task is not None:
            self._progress.stop()


@contextmanager
def progress_bar(description: str, quiet: bool = False) -> Iterator[Bar]:
    """``quiet`` (``--json``) draws nothing; neither does a stderr that is not a terminal."""
    bar = Bar(description, quiet)
    try:
        yield bar
    finally:
        bar.close()
