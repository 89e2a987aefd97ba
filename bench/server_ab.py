"""Server A/B: uvicorn (httptools + uvloop, as ``scp-images serve`` runs it) against granian, on the bare
app (``floor_app.py``, the bytes of a real Show) and on our signed Show, 1 and 2 worker processes.

    python bench/server_ab.py [--rounds 3] [--duration 5] [--images 2000]

granian is not a dependency: install it beside (``pip install --target DIR granian`` and DIR on
``PYTHONPATH``). The machine is shared and noisy, so each round measures both servers back to back, in
alternating order, and the figure is the median over rounds of granian's req/s over uvicorn's in the same
round (wrk, c=16, keep-alive), beside the servers' CPU time per request (their process trees, from /proc;
the minimum over rounds), which a loaded machine disturbs far less: a server with more threads gets a
larger share of a crowded machine, which shows in req/s but not in CPU per request. It also probes what
granian answers to oversized request heads (a 9 KiB header line, 40 KiB of small lines, a 1 MiB line), the
limits ``serve`` must enforce."""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import (
    BENCH_DIR,
    HOST,
    Report,
    Running,
    free_port,
    run_main,
    running_floor,
    running_server,
    start_process,
    stop_process,
    tree_cpu_seconds,
    wait_answering,
)
from _load import LoadResult, Request, run_load
from floor_app import granian_args
from show_image import seed, show_body, signed_show_requests

SERVERS = ("uvicorn", "granian")
CONCURRENCY = 16


@contextmanager
def running_app(server: str, data_dir: Path, workers: int) -> Iterator[Running]:
    """Our app on ``server``: ``scp-images serve`` itself for uvicorn; for granian, the factory each
    ``serve --workers N`` process calls, under granian's own process model."""
    env = {"SCP_IMAGES_DATABASE_URL": "", "SCP_IMAGES_BLOB_URL": ""}
    if server == "uvicorn":
        with running_server(data_dir, env, workers=workers) as running:
            assert running.proc is not None
            yield Running(running.base_url, running.proc.pid)
        return
    port = free_port()
    factory = "scp_images.cli.server:process_app"
    cmd = [sys.executable, "-m", "granian", *granian_args(HOST, port, workers), factory]
    log = data_dir / f"granian-{port}.log"
    proc = start_process(cmd, {**env, "SCP_IMAGES_DATA_DIR": str(data_dir)}, log)
    try:
        wait_answering(proc, f"http://{HOST}:{port}/healthz", 180.0, log)
        yield Running(f"http://{HOST}:{port}", proc.pid)
    finally:
        stop_process(proc)


def probe_heads(base_url: str) -> dict[str, str]:
    """The status line (or what happened) for each oversized head."""
    port = int(base_url.rsplit(":", 1)[1])
    start = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    heads = {
        "line_9KiB": start + b"X-Long: " + b"a" * 9 * 1024 + b"\r\n\r\n",
        "total_40KiB": start + b"".join(b"X-S%d: %s\r\n" % (n, b"b" * 500) for n in range(80)) + b"\r\n",
        "line_1MiB": start + b"X-Huge: " + b"c" * (1 << 20) + b"\r\n\r\n",
    }
    seen = {}
    for name, head in heads.items():
        with socket.create_connection((HOST, port), timeout=10) as sock:
            try:
                sock.sendall(head)
                answer = sock.recv(200).split(b"\r\n", 1)[0].decode("latin-1")
            except OSError as exc:
                answer = f"{type(exc).__name__}"
        seen[name] = answer or "closed without an answer"
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    report = Report("server_ab", vars(args))
    rps: dict[tuple[str, str, int], list[float]] = {}
    p99: dict[tuple[str, str, int], list[float]] = {}
    cpu_us: dict[tuple[str, str, int], list[float]] = {}  # the server's CPU per request
    ratios: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="scp-bench-ab-") as tmp:
        data_dir = Path(tmp) / "data"
        creds, ids = seed(data_dir, args.images)
        body = Path(tmp) / "show-body.json"
        with running_app("uvicorn", data_dir, 1) as first:
            body.write_bytes(show_body(first.base_url, creds, ids))
        for round_ in range(args.rounds):
            for workers in (int(w) for w in args.workers.split(",")):
                order = SERVERS if round_ % 2 == 0 else SERVERS[::-1]
                this: dict[tuple[str, str], LoadResult] = {}
                for server in order:
                    with (
                        running_app(server, data_dir, workers) as app,
                        running_floor(body, workers, server) as floor,
                    ):
                        if round_ == 0 and workers == 1 and server == "granian":
                            for name, answer in probe_heads(floor.base_url).items():
                                report.note(f"granian answers {name}: {answer}")
                        run_load("wrk", app.base_url, signed_show_requests(app.base_url, creds, ids), 16, 1.0)
                        for name, running in (("floor", floor), ("show", app)):
                            requests = (
                                [Request("/", {})]
                                if name == "floor"
                                else signed_show_requests(app.base_url, creds, ids)
                            )
                            before = tree_cpu_seconds(running.pid)
                            result = run_load("wrk", running.base_url, requests, CONCURRENCY, args.duration)
                            spent = tree_cpu_seconds(running.pid) - before
                            this[server, name] = result
                            key = (server, name, workers)
                            rps.setdefault(key, []).append(result.rps)
                            p99.setdefault(key, []).append(result.p99_ms)
                            cpu_us.setdefault(key, []).append(spent / max(result.requests, 1) * 1e6)
                            print(
                                f"  round {round_} workers={workers} {server:<8} {name:<5} "
                                f"{result.rps:8.0f} req/s p99 {result.p99_ms:6.2f} ms "
                                f"cpu {cpu_us[key][-1]:6.0f} us/req errors {result.errors}",
                                flush=True,
                            )
                for name in ("floor", "show"):
                    ratios.setdefault((name, workers), []).append(
                        this["granian", name].rps / this["uvicorn", name].rps
                    )
    for (name, workers), values in sorted(ratios.items()):
        uvicorn_cpu = min(cpu_us["uvicorn", name, workers])
        granian_cpu = min(cpu_us["granian", name, workers])
        report.figure(
            "server_ab",
            app=name,
            workers=workers,
            c=CONCURRENCY,
            uvicorn_rps=statistics.median(rps["uvicorn", name, workers]),
            granian_rps=statistics.median(rps["granian", name, workers]),
            uvicorn_p99_ms=statistics.median(p99["uvicorn", name, workers]),
            granian_p99_ms=statistics.median(p99["granian", name, workers]),
            granian_over_uvicorn=statistics.median(values),
            rounds=" ".join(f"{v:.2f}" for v in values),
            uvicorn_cpu_us=uvicorn_cpu,
            granian_cpu_us=granian_cpu,
            cpu_uvicorn_over_granian=uvicorn_cpu / granian_cpu,
        )
    report.write()
    return 0


if __name__ == "__main__":
    os.chdir(BENCH_DIR)
    sys.exit(run_main(main))
