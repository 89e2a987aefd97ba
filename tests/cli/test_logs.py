"""Log lines of ``serve`` and ``worker``: readable on a terminal, JSON otherwise (or as ``--log-format``
says), and the first-start banner is one of those lines, never text wedged between JSON objects."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from scp_images.logs import ConsoleFormatter
from tests.support.process import read_until
from tests.support.stack import free_port
from tests.support.tools import wait_until

SCP_IMAGES = [sys.executable, "-m", "scp_images.cli"]
CONSOLE_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+\S+  ")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SCP_IMAGES_")}


def _serve(data_dir: Path, *flags: str, stderr: int) -> subprocess.Popen[str]:
    command = [*SCP_IMAGES, "serve", "--port", str(free_port()), "--data-dir", str(data_dir), *flags]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=_env(), text=True)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def test_not_on_a_terminal_every_line_is_json_the_banner_too(tmp_path: Path) -> None:
    proc = _serve(tmp_path / "data", stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        lines = read_until(proc.stderr, "listening on").splitlines()
    finally:
        _stop(proc)
    records = [json.loads(line) for line in lines if line.strip()]  # raises on any line that is not JSON
    banner = next(r for r in records if r["message"].startswith("First start"))
    assert banner["access_key"] and banner["secret_key"] and banner["account_id"]
    assert f"access key : {banner['access_key']}" in banner["message"]
    assert any("listening on" in r["message"] for r in records)


def test_on_a_terminal_lines_are_readable(tmp_path: Path) -> None:
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # an 80-column terminal
    proc = _serve(tmp_path / "data", stderr=terminal)
    os.close(terminal)
    seen = bytearray()

    def listening() -> bool:
        try:
            seen.extend(os.read(main, 65536))
        except OSError:
            return True  # the process ended: the assertions below say what was missing
        return b"listening on" in seen

    try:
        wait_until(listening, what="the listening line", timeout=90, interval=0.05)
    finally:
        _stop(proc)
        os.close(main)
    lines = seen.decode().replace("\r\n", "\n").splitlines()
    assert not any(line.startswith("{") for line in lines), lines
    assert any(CONSOLE_LINE.match(line) and "First start" in line for line in lines), lines
    assert any(re.fullmatch(r"  access key : \S+", line) for line in lines), lines
    assert any(CONSOLE_LINE.match(line) and "listening on" in line for line in lines), lines
    assert any(line.startswith(" " * 22) and line.strip() for line in lines), "a long line was wrapped"
    too_wide = [line for line in lines if len(line) > 80 and len(line.split()) > 1]
    assert not too_wide, too_wide  # only a single word longer than the line (a URL, a path) may pass 80
    assert "  export SCP_SECRET_KEY=" in "\n".join(lines)


def _console_line(message: str, width: int | None, **extra: object) -> str:
    record = logging.LogRecord("scp_images.server", logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return ConsoleFormatter(width).format(record)


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(st.text(alphabet="abcdefghij=/:.", min_size=1, max_size=30), min_size=1, max_size=40),
    width=st.integers(min_value=40, max_value=200),
)
def test_a_console_line_is_wrapped_at_words_to_the_width(words: list[str], width: int) -> None:
    message = " ".join(words)
    lines = _console_line(message, width).splitlines()
    for number, line in enumerate(lines):
        assert len(line) <= width or (number > 0 and len(line.split()) == 1), line
        if number:
            assert line.startswith(" " * 22)
    assert " ".join(" ".join(lines).split()[3:]) == message  # no word lost, cut or reordered


def test_a_console_line_is_not_wrapped_off_a_terminal_nor_a_block() -> None:
    long = "word " * 40
    assert _console_line(long, None).count("\n") == 0
    banner = _console_line("First start: something happened.\n  " + "x " * 60, 80)
    assert banner.splitlines()[1] == "  " + "x " * 60  # the block's own lines stay as written


def test_the_format_can_be_forced_for_the_worker(tmp_path: Path) -> None:
    env = {**_env(), "SCP_IMAGES_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [*SCP_IMAGES, "worker", "--log-format", "console"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stderr is not None
        text = read_until(proc.stderr, "running import jobs")
    finally:
        _stop(proc)
    line = next(x for x in text.splitlines() if "running import jobs" in x)
    assert CONSOLE_LINE.match(line) and "integrity scrub off" in line
