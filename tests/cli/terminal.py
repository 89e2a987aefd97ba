"""``scp-images`` under a real pseudo-terminal of a given size, and what a person would see of it."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from dataclasses import dataclass

from rich.cells import cell_len

from tests.cli.conftest import SCP_IMAGES

# What our own styling writes (SGR colours, bold) and Rich's progress display (cursor show/hide, erase line).
OWN_CODES = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\?25[lh]|\x1b\[2K|\x1b\[1A")
C1 = re.compile("[\x80-\x9f]")
TIMEOUT = 120.0


@dataclass
class Screen:
    returncode: int
    raw: str  # every character written to the terminal (stdout and stderr)

    @property
    def text(self) -> str:
        """The output without our own styling codes: any ESC left came from somewhere else."""
        return OWN_CODES.sub("", self.raw)

    @property
    def lines(self) -> list[str]:
        """The lines as shown; a progress display redrawn with ``\\r`` shows its last state."""
        return [line.rsplit("\r", 1)[-1] for line in self.text.replace("\r\n", "\n").split("\n")]

    def widest(self) -> int:
        return max((cell_len(line) for line in self.lines), default=0)

    def assert_clean(self) -> None:
        """Nothing but our own codes: no ESC or C1 control reached the terminal from tenant text."""
        assert "\x1b" not in self.text and not C1.search(self.text), repr(self.text)


def on_terminal(env: dict[str, str], *args: str, columns: int = 80, rows: int = 50) -> Screen:
    """Run ``scp-images <args>`` with stdin, stdout and stderr on a pseudo-terminal ``columns`` wide."""
    controller, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {**env, "COLUMNS": str(columns), "LINES": str(rows), "TERM": "xterm-256color"}
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [*SCP_IMAGES, *args], stdin=terminal, stdout=terminal, stderr=terminal, env=env, close_fds=True
    )
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError as exc:  # EIO: every writer closed its end
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
        returncode = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)
    return Screen(returncode, b"".join(chunks).decode("utf-8", "replace"))
