"""The real ``scp-images serve`` / ``worker`` as child processes, for crash tests."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx

from scp_images.config import Settings
from tests.support.stack import free_port
from tests.support.tools import wait_until


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in settings.model_dump(exclude_none=True).items():
        if isinstance(value, list):
            value = ",".join(value)
        env[f"SCP_IMAGES_{name.upper()}"] = str(value)
    env.update(extra)
    return env


READY_SECONDS = 60.0  # a loaded two-core CI machine takes a few seconds to import and migrate
PORT_ATTEMPTS = 3


def _end(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not gone within 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def read_until(stream: IO[str], marker: str, timeout: float = READY_SECONDS) -> str:
    """What ``stream`` says up to the first line containing ``marker`` (all of it if it ends first); a
    TimeoutError if neither happens within ``timeout``. The stream is read to its end in the background."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="read-until", daemon=True).start()
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            said = "".join(seen)
            raise TimeoutError(f"no line with {marker!r} within {timeout:.0f} s; it said {said!r}") from None
        if line is None:
            return "".join(seen)
        seen.append(line)
        if marker in line:
            return "".join(seen)


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(none)"


class ServerProcess:
    """``scp-images serve`` on a free port; returns once ``/healthz`` answers 200."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        port: int | None = None,
        flags: tuple[str, ...] = (),
        ready_seconds: float = READY_SECONDS,
    ) -> None:
        self._flags = flags
        self._log = log.open("ab")
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self._start(env, port or free_port())
            try:
                wait_until(self._healthy, what="scp-images serve", timeout=ready_seconds, alive=self._exited)
                return
            except Exception as exc:
                _end(self.proc)
                # Another process can take the free port between free_port() and the server's bind.
                if port is None and attempt < PORT_ATTEMPTS and "in use by another program" in _tail(log):
                    continue
                self._log.close()
                raise RuntimeError(f"{exc}; its log:\n{_tail(log)}") from exc

    def _start(self, env: dict[str, str], port: int) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scp_images.cli", "serve", "--port", str(port), *self._flags],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def _healthy(self) -> bool:
        # Another test's server can take the free port before ours binds it and answer /healthz in its
        # place: ready only once our own process holds the listening socket.
        if not listens_on(self.proc.pid, self.port):
            return False
        try:
            return httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def _exited(self) -> str | None:
        code = self.proc.poll()
        return None if code is None else f"exited with {code}"

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind runs."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        _end(self.proc)
        if not self._log.closed:
            self._log.close()


def listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a TCP socket listening on ``port`` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(fields[9])
    fds = Path(f"/proc/{pid}/fd")
    try:
        links = {os.readlink(fd) for fd in fds.iterdir()}
    except OSError:
        return False
    return any(f"socket:[{inode}]" in links for inode in inodes)


class WorkerProcess:
    """Returns once the worker says it runs import jobs (it has connected and migrated)."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        flags: tuple[str, ...] = (),
        ready_seconds: float = READY_SECONDS,
    ) -> None:
        start = log.stat().st_size if log.exists() else 0
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scp_images.cli", "worker", *flags],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(
                lambda: b"running import jobs" in log.read_bytes()[start:],
                what="scp-images worker",
                timeout=ready_seconds,
                alive=self._exited,
            )
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"{exc}; its log:\n{_tail(log)}") from exc

    def _exited(self) -> str | None:
        code = self.proc.poll()
        return None if code is None else f"exited with {code}"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        _end(self.proc)
        if not self._log.closed:
            self._log.close()
