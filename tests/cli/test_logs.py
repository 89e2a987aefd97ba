"""Log lines of ``serve`` and ``worker``: readable on a terminal, JSON otherwise (or as ``--log-format``
says), and the first-start banner is one of those lines, never text wedged between JSON objects."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

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
