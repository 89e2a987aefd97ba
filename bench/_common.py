"""Shared helpers for the benchmark scripts: server subprocess, ports, signing, percentiles, reporting.

Every benchmark reports RATIOS measured in the same run; absolute numbers are context only, since
the machine is shared and noisy. Each figure is printed as one ``FIGURE name k=v ...`` line and
saved in ``bench/out/<script>.json``.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from scp_images.signing import sign_request

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
API_VERSION = "virtualserver 1.3"
HOST = "127.0.0.1"
MiB = 1 << 20

# --------------------------------------------------------------------------- process hygiene


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so every ``finally`` stops what it started."""

    def _raise(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored


def run_main(main: Callable[[], int]) -> int:
    """Run ``main``; Ctrl-C / SIGTERM end it quietly (exit 130) after every ``finally`` has run."""
    install_signal_handlers()
    try:
        return main()
    except KeyboardInterrupt:
        print("\ninterrupted: stopped the processes and removed the files this run started", file=sys.stderr)
        return 130


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the benchmark dies, even by SIGKILL (Linux prctl)."""
    with suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Terminate one child we started (by its pid), escalating to SIGKILL."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


SRC_DIR = BENCH_DIR.parent / "src"


def scp_images_command() -> list[str]:
    """``scp-images`` run from this checkout's ``src`` (see ``checkout_env``), not whichever is installed."""
    return [sys.executable, "-m", "scp_images.cli"]


def checkout_env(env: Mapping[str, str], src: Path = SRC_DIR) -> dict[str, str]:
    """The environment for a server subprocess: this checkout's code (or ``src``, another checkout's, for
    an A/B) first on the import path, so the benchmark measures the code it means to even where another
    checkout is installed in editable mode."""
    merged = {**os.environ, **env}
    merged["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), merged.get("PYTHONPATH", "")) if p)
    return merged


def serve_supports_workers() -> bool:
    """Whether ``scp-images serve`` takes ``--workers`` (added by the scale-out work)."""
    done = subprocess.run(
        [*scp_images_command(), "serve", "--help"],
        capture_output=True,
        text=True,
        env={**checkout_env({}), "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
        timeout=60,
        check=False,
    )
    return "--workers" in done.stdout


# --------------------------------------------------------------------------- the server under test


@dataclass
class Server:
    """``scp-images serve`` (``--workers`` uvicorn workers; 1 passes no flag) as a subprocess on 127.0.0.1."""

    data_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    port: int = 0
    workers: int = 1
    proc: subprocess.Popen[bytes] | None = None
    args: Sequence[str] = ()  # more ``serve`` options, e.g. ``--workers 2``
    src: Path = SRC_DIR  # the code to run (another checkout's ``src`` for an A/B)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def start(self, timeout: float = 180.0) -> None:  # a loaded 2-core machine takes 40 s for 2 workers
        self.port = self.port or free_port()
        cmd = [
            *scp_images_command(),
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *(["--workers", str(self.workers)] if self.workers != 1 else []),
            *self.args,
        ]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = start_process(cmd, self.env, self.log_path, self.src)
        self._wait_healthy(timeout)

    def _wait_healthy(self, timeout: float) -> None:
        assert self.proc is not None
        wait_answering(self.proc, f"{self.base_url}/healthz", timeout, self.log_path)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_answering(proc: subprocess.Popen[bytes], url: str, timeout: float, log: Path) -> None:
    """Until ``url`` answers 200; an error with the log's tail if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{log_tail(log)}")
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s:\n{log_tail(log)}")


def start_process(
    cmd: Sequence[str], env: Mapping[str, str], log: Path, src: Path = SRC_DIR
) -> subprocess.Popen[bytes]:
    """A server subprocess of this checkout or ``src`` (see ``checkout_env``), logging to ``log``, that
    dies with us."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=checkout_env(env, src),
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )


@contextmanager
def running_server(
    data_dir: Path, env: Mapping[str, str] | None = None, workers: int = 1
) -> Iterator[Server]:
    server = Server(data_dir, dict(env or {}), workers=workers)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Running:
    base_url: str
    pid: int


@contextmanager
def running_floor(
    body: Path, workers: int = 1, server: str = "uvicorn", timeout: float = 180.0
) -> Iterator[Running]:
    """``bench/floor_app.py``: the bare ASGI app answering ``body`` on the same stack as ``serve`` (or on
    granian)."""
    port = free_port()
    cmd = [sys.executable, str(BENCH_DIR / "floor_app.py"), "--port", str(port), "--workers", str(workers)]
    cmd += ["--server", server, "--body", str(body)]
    log = body.with_suffix(f".{port}.log")
    path = os.pathsep.join(p for p in (str(BENCH_DIR), os.environ.get("PYTHONPATH", "")) if p)
    proc = start_process(cmd, {"PYTHONPATH": path}, log)
    try:
        wait_answering(proc, f"http://{HOST}:{port}/", timeout, log)
        yield Running(f"http://{HOST}:{port}", proc.pid)
    finally:
        stop_process(proc)


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU time of process ``root`` and its live descendants (Linux /proc). On a shared
    machine this is the figure that holds: throughput follows the scheduler's share, CPU per request not."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pid = int(stat.parent.name)
            parent[pid] = int(fields[1])
            cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
    total = 0.0
    for pid, seconds in cpu.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parent:
            ancestor = parent[ancestor]
        if ancestor == root:
            total += seconds
    return total


# --------------------------------------------------------------------------- signing


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    account_id: str = ""


def signed_headers(method: str, url: str, creds: Credentials) -> dict[str, str]:
    """The SCP headers for ``url`` (scheme://host:port/path?query exactly as sent), signed now."""
    headers = sign_request(method, url, creds.access_key, creds.secret_key).as_dict()
    headers["Scp-Api-Version"] = API_VERSION
    return headers


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (0..100) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        if abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


# --------------------------------------------------------------------------- reporting


@dataclass
class Report:
    """Collects FIGURE lines, tables and context; writes ``bench/out/<name>.json``."""

    name: str
    args: dict[str, Any]
    figures: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def figure(self, name: str, **values: Any) -> None:
        self.figures.append({"figure": name, **values})
        print("FIGURE " + " ".join([name, *(f"{k}={fmt(v)}" for k, v in values.items())]), flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(text, flush=True)

    def table(self, title: str, rows: list[dict[str, Any]]) -> None:
        self.tables[title] = rows
        print_table(title, rows)

    def write(self) -> Path:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        path = OUT_DIR / f"{self.name}.json"
        body = {
            "benchmark": self.name,
            "started_at": self.started_at,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "machine": platform.machine(),
            },
            "args": self.args,
            "figures": self.figures,
            "tables": self.tables,
            "notes": self.notes,
        }
        path.write_text(json.dumps(body, indent=2, default=str) + "\n")
        print(f"wrote {path}", flush=True)
        return path


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    cells = [[fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print(f"\n{title}")
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
    print(flush=True)


def measurement_seconds(quick: bool, duration: float | None) -> float:
    if duration is not None:
        return duration
    return 3.0 if quick else 10.0
