"""Rich progress bars for uploads, downloads and imports, drawn on stderr so ``--json`` stays clean.
A bar appears only on a terminal, without ``--json``, and once there is progress to show (an image that
is already active shows none). Sizes and speeds are in binary units (MiB, GiB), as the tables show them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.cells import set_cell_size
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from scp_images.cli._messages import t
from scp_images.cli._output import err_console, human_size, safe
from scp_images.client import ImportStatus


class _SpeedColumn(ProgressColumn):
    """``12 MiB/s``: Rich's own speed column counts in decimal megabytes. Blank, not ``?``, before a speed
    is known (a small file is sent before the first one is)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{human_size(int(speed))}/s", style="progress.data.speed")


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


class _PercentColumn(ProgressColumn):
    """`` 42%`` while a conversion reports its percentage; blank in the phases that have none."""

    def render(self, task: Task) -> Text:
        if not task.fields.get("converting"):
            return Text("    ")
        return Text(f"{task.percentage:>3.0f}%", style="progress.percentage")


# The phases a server reports (``ImportPhase``): a label each, in the run's language.
PHASES = ("receiving", "inspecting", "converting", "hashing", "storing")
# The label's width in cells (a Korean syllable is two): the longest label of either language, so the bar
# does not move between phases.
LABEL_WIDTH = 16


def phase_label(phase: str | None) -> str:
    """``converting``, ``변환 중``; a phase this CLI does not know is shown as the server names it."""
    if phase in PHASES:
        return t(f"phase_{phase}")
    return safe(phase or t("phase_waiting"))


class PhaseBar:
    """The import after the bytes were sent: the phase, and in ``converting`` a bar with its percentage
    (the other phases pulse). Fits 80 columns: a label of ``LABEL_WIDTH`` cells, a bar of 30."""

    def __init__(self, quiet: bool = False, console: Console | None = None) -> None:
        target = console or err_console
        self._quiet = quiet or not target.is_terminal
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=30),
            _PercentColumn(),
            TimeElapsedColumn(),
            console=target,
        )
        self._task: TaskID | None = None
        self.phases: list[str] = []  # every phase seen, in order (the CLI's done line names them)

    def import_status(self, status: ImportStatus) -> None:
        phase = status.phase
        if phase is not None and (not self.phases or self.phases[-1] != phase):
            self.phases.append(phase)
        if self._quiet or phase is None:
            return
        label = set_cell_size(phase_label(phase), LABEL_WIDTH)
        converting = phase == "converting"
        # Before the conversion the bar pulses (no total); after it, it stays full (Rich keeps a total
        # once set). The percentage is shown only while converting.
        after = phase in ("hashing", "storing") or status.status == "succeeded"
        total = 100 if converting or after else None
        done = 100 if after else (status.percent or 0)
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task(label, total=total, converting=converting)
        self._progress.update(
            self._task, completed=done, total=total, description=label, converting=converting
        )

    def close(self) -> None:
        if self._task is not None:
            self._progress.stop()


class ImportBar:
    """``wait``'s display: the bytes while they are received, then the phases (a Korean label and a byte
    count do not fit 80 columns together)."""

    def __init__(self, description: str, quiet: bool = False) -> None:
        self._bytes = Bar(description, quiet)
        self._phases = PhaseBar(quiet)
        self._after_bytes = False

    def import_status(self, status: ImportStatus) -> None:
        if not self._after_bytes and status.phase in (None, "receiving"):
            self._bytes.import_status(status)
            return
        if not self._after_bytes:
            self._bytes.close()
            self._after_bytes = True
        self._phases.import_status(status)

    def close(self) -> None:
        self._bytes.close()
        self._phases.close()


@contextmanager
def import_bar(description: str, quiet: bool = False) -> Iterator[ImportBar]:
    bar = ImportBar(description, quiet)
    try:
        yield bar
    finally:
        bar.close()


@contextmanager
def phase_bar(quiet: bool = False) -> Iterator[PhaseBar]:
    bar = PhaseBar(quiet)
    try:
        yield bar
    finally:
        bar.close()


@contextmanager
def progress_bar(description: str, quiet: bool = False) -> Iterator[Bar]:
    """``quiet`` (``--json``) draws nothing; neither does a stderr that is not a terminal."""
    bar = Bar(description, quiet)
    try:
        yield bar
    finally:
        bar.close()
