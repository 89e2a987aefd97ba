"""The bar that follows a conversion: its phase in the run's language, the percentage while converting,
within 80 columns (a Korean label is two cells a syllable)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from rich.cells import cell_len
from rich.console import Console

from scp_images.cli._messages import use_language
from scp_images.cli._progress import PHASES, ImportBar, PhaseBar
from scp_images.client import ImportStatus


@pytest.fixture(autouse=True)
def english_after() -> Iterator[None]:
    yield
    use_language("en-US")


def _status(phase: str, percent: int | None = None, status: str = "running") -> ImportStatus:
    return ImportStatus("img", status, None, 9, 9, None, None, None, phase=phase, percent=percent)


def _drawn(*statuses: ImportStatus, columns: int = 80) -> list[str]:
    """The bar's last state as a terminal ``columns`` wide shows it."""
    console = Console(file=io.StringIO(), force_terminal=True, width=columns)
    bar = PhaseBar(console=console)
    try:
        for status in statuses:
            bar.import_status(status)
        screen = Console(file=io.StringIO(), force_terminal=True, width=columns, record=True)
        screen.print(bar._progress.get_renderable())
    finally:
        bar.close()
    return [line.rstrip() for line in screen.export_text().splitlines() if line.strip()]


@pytest.mark.parametrize(("language", "label"), [("en-US", "converting"), ("ko-KR", "qcow2로 변환 중")])
def test_converting_shows_the_phase_and_percent_in_80_columns(language: str, label: str) -> None:
    use_language(language)
    lines = _drawn(_status("inspecting"), _status("converting", 42))
    assert label in lines[-1] and "42%" in lines[-1]
    assert max(cell_len(line) for line in lines) <= 80


@pytest.mark.parametrize("language", ["en-US", "ko-KR"])
@pytest.mark.parametrize("phase", PHASES)
def test_every_phase_has_a_label_that_fits(language: str, phase: str) -> None:
    use_language(language)
    lines = _drawn(_status(phase))
    assert len(lines) == 1 and cell_len(lines[0]) <= 80
    assert phase not in lines[0] or language == "en-US"


def test_the_phases_seen_are_kept_in_order_once_each() -> None:
    bar = PhaseBar(quiet=True)
    for phase in ("receiving", "inspecting", "converting", "converting", "hashing", "storing"):
        bar.import_status(_status(phase, 50 if phase == "converting" else None))
    assert bar.phases == ["receiving", "inspecting", "converting", "hashing", "storing"]


def test_a_phase_this_cli_does_not_know_is_shown_as_text() -> None:
    lines = _drawn(_status("\x1b[31mnew"))
    assert "\\x1b[31mnew" in lines[0] and "\x1b" not in lines[0]


def test_wait_shows_bytes_while_receiving_then_the_phases() -> None:
    bar = ImportBar("waiting for active", quiet=True)
    for phase in ("receiving", "receiving", "converting", "storing"):
        bar.import_status(_status(phase, 10 if phase == "converting" else None))
    assert bar._phases.phases == ["converting", "storing"]  # receiving stayed with the bytes
    bar.close()


def test_only_the_conversion_shows_a_percentage() -> None:
    (hashing,) = _drawn(_status("converting", 60), _status("hashing"))
    assert "hashing" in hashing and "%" not in hashing
    (inspecting,) = _drawn(_status("inspecting"))
    assert "%" not in inspecting


def test_the_upload_bar_shows_no_question_mark_before_a_speed_is_known() -> None:
    from rich.progress import Progress

    from scp_images.cli._progress import _SpeedColumn

    progress = Progress(_SpeedColumn(), console=Console(file=io.StringIO()))
    task_id = progress.add_task("disk.qcow2", total=100)
    assert _SpeedColumn().render(progress.tasks[-1]).plain == ""
    progress.update(task_id, completed=100)  # finished in one step: no time to measure a speed
    assert "?" not in _SpeedColumn().render(progress.tasks[-1]).plain
