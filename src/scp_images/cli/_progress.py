"""Rich progress bars for uploads, downloads and imports, drawn on stderr so ``--json`` stays clean.
A bar appears only once there is progress to show (an image that is already active shows none)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from scp_images.cli._output import err_console
from scp_images.client import ImportStatus


class Bar:
    """``bytes`` fits the SDK's ``progress`` callbacks; ``import_status`` fits ``wait(on_progress=)``."""

    def __init__(self, description: str) -> None:
        self._description = description
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
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
        self._show(status.bytes_read, total, f"{self._description} (import {status.status})")

    def _show(self, done: int, total: int | None, description: str) -> None:
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task(description, total=total)
        self._progress.update(self._task, completed=done, total=total, description=description)

    def close(self) -> None:
        if self._task is not None:
            self._progress.stop()


@contextmanager
def progress_bar(description: str) -> Iterator[Bar]:
    bar = Bar(description)
    try:
        yield bar
    finally:
        bar.close()
