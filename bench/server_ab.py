"""Server A/B: uvicorn (httptools + uvloop, as ``scp-images serve`` runs it) against granian, on the bare
app (``floor_app.py``, the bytes of a real Show) and on our signed Show, 1 and 2 worker processes.

    python bench/server_ab.py [--rounds 3] [--duration 5] [--images 2000]

granian is not a dependency: install it beside (``pip install --target DIR granian`` and DIR on
``PYTHONPATH``). The machine is shared and noisy, so each round measures both servers back to back, in
alternating order, and the figure is the median over rounds of granian's req/s over uvicorn's in the same
round (wrk, c=16, keep-alive). It also probes what granian answers to oversized request heads (a 9 KiB
header line, 40 KiB of small lines, a 1 MiB line), the limits ``serve`` must enforce."""

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
    free_port,
    run_main,
    running_floor,
    running_server,
    start_process,
    stop_process,
    wait_answering,
)
from _load import LoadResult, Request, run_load
from floor_app import granian_args
from show_image import seed, show_body, signed_show_requests

SERVERS = ("uvicorn", "granian")
CONCURRENCY = 16


@contextmanager
def running_app(server: str, data_dir: Path, workers: int) -> Iterator[str]:
    """Our app on ``server``: ``scp-images serve`` itself for uvicorn; for granian, the factory each
    ``serve --workers N`` process calls, under granian's own process model. Yields the base URL."""
    env = {"SCP_IMAGES_DATABASE_URL": "", "SCP_IMAGES_BLOB_URL": ""}
    if server == "uvicorn":
        with running_server(data_dir, env, workers=workers) as running:
            yield running.base_url
        return
    port = free_port()
    factory = "scp_images.cli.server:process_app"
    cmd = [sys.executable, "-m", "granian", *granian_args(HOST, port, workers), factory]
    log = data_dir / f"granian-{port}.log"
    proc = start_process(cmd, {**env, "SCP_IMAGES_DATA_DIR": str(data_dir)}, log)
    try:
        wait_answering(proc, f"http://{HOST}:{port}/healthz", 180.0, log)
        yield f"http://{HOST}:{port}"
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
    ratios: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="scp-bench-ab-") as tmp:
        data_dir = Path(tmp) / "data"
        creds, ids = seed(data_dir, args.images)
        body = Path(tmp) / "show-body.json"
        with running_app("uvicorn", data_dir, 1) as base:
            body.write_bytes(show_body(base, creds, ids))
        for round_ in range(args.rounds):
            for workers in (int(w) for w in args.workers.split(",")):
                order = SERVERS if round_ % 2 == 0 else SERVERS[::-1]
                this: dict[tuple[str, str], LoadResult] = {}
                for server in order:
                    with (
                        running_app(server, data_dir, workers) as base,
                        running_floor(body, workers, server) as floor,
                    ):
                        if round_ == 0 and workers == 1 and server == "granian":
                            for name, answer in probe_heads(floor).items():
                                report.note(f"granian answers {name}: {answer}")
                        run_load("wrk", base, signed_show_requests(base, creds, ids), CONCURRENCY, 1.0)
                        this[server, "floor"] = run_load(
                            "wrk", floor, [Request("/", {})], CONCURRENCY, args.duration
                        )
                        this[server, "show"] = run_load(
                            "wrk", base, signed_show_requests(base, creds, ids), CONCURRENCY, args.duration
                        )
                for (server, app), result in this.items():
                    rps.setdefault((server, app, workers), []).append(result.rps)
                    p99.setdefault((server, app, workers), []).append(result.p99_ms)
                    print(
                        f"  round {round_} workers={workers} {server:<8} {app:<5} "
                        f"{result.rps:8.0f} req/s p99 {result.p99_ms:6.2f} ms",
                        flush=True,
                    )
                for app in ("floor", "show"):
                    ratios.setdefault((app, workers), []).append(
                        this["granian", app].rps / this["uvicorn", app].rps
                    )
    for (app, workers), values in sorted(ratios.items()):
        report.figure(
            "server_ab",
            app=app,
            workers=workers,
            c=CONCURRENCY,
            uvicorn_rps=statistics.median(rps["uvicorn", app, workers]),
            granian_rps=statistics.median(rps["granian", app, workers]),
            uvicorn_p99_ms=statistics.median(p99["uvicorn", app, workers]),
            granian_p99_ms=statistics.median(p99["granian", app, workers]),
            granian_over_uvicorn=statistics.median(values),
            rounds=" ".join(f"{v:.2f}" for v in values),
        )
    report.write()
    return 0


if __name__ == "__main__":
    os.chdir(BENCH_DIR)
    sys.exit(run_main(main))
