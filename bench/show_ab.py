"""Show A/B over sockets: the signed Show (and the v2 show) of another checkout's code ("before") beside
this checkout's ("after") and the bare app, interleaved in one run.

    python bench/show_ab.py --before DIR [--rounds 2] [--duration 5] [--workers 1] [--images 10000]

``DIR`` is the ``src`` directory of the code to compare with (e.g. ``git archive main src | tar -x -C
/tmp/base``, then ``--before /tmp/base/src``). One seeded SQLite data directory is copied for each
server, so both read the same rows; the floor (``floor_app.py``) answers the bytes of a real Show. Each
round runs, for keep-alive and ``Connection: close``, wrk c=16 against the floor, both servers' signed
Show and both servers' v2 show, the two servers in alternating order from round to round. The figures are
each server's best round (req/s) with its p99, show over floor and after over before, and each
process's CPU time per request (its process tree, from /proc; the minimum over rounds), which a crowded
machine disturbs far less than req/s."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from _common import SRC_DIR, Report, Server, ratio, run_main, running_floor, tree_cpu_seconds
from _load import LoadResult, Request, run_load
from show_image import seed, show_body, signed_show_requests, token_show_requests

CONCURRENCY = 16
MODES = ("keep-alive", "close")


@contextmanager
def running_code(src: Path, data_dir: Path, workers: int) -> Iterator[Server]:
    """``scp-images serve`` with ``src`` first on the import path."""
    env = {"SCP_IMAGES_DATABASE_URL": "", "SCP_IMAGES_BLOB_URL": ""}
    server = Server(data_dir, env, workers=workers, src=src)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", type=Path, required=True, help="src directory of the code before")
    parser.add_argument("--after", type=Path, default=SRC_DIR, help="src directory of the code after")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--images", type=int, default=10_000)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    report = Report("show_ab", {k: str(v) for k, v in vars(args).items()})
    before_src = args.before.resolve()
    with tempfile.TemporaryDirectory(prefix="scp-bench-ab-") as tmp, ExitStack() as stack:
        seeded = Path(tmp) / "seeded"
        creds, ids = seed(seeded, args.images)
        servers: dict[str, Server] = {}
        for name, src in (("before", before_src), ("after", args.after.resolve())):
            data_dir = Path(tmp) / name
            shutil.copytree(seeded, data_dir)
            servers[name] = stack.enter_context(running_code(src, data_dir, args.workers))
        body = Path(tmp) / "show-body.json"
        body.write_bytes(show_body(servers["after"].base_url, creds, ids))
        floor = stack.enter_context(running_floor(body, args.workers))
        report.note(f"before: {before_src}; after: {args.after.resolve()}; {args.workers} worker(s), c=16")
        results: dict[tuple[str, str, str], list[LoadResult]] = {}
        cpu_us: dict[tuple[str, str, str], list[float]] = {}
        pids = {name: server.proc.pid for name, server in servers.items() if server.proc is not None}
        pids["floor"] = floor.pid

        def load(key: tuple[str, str, str], base: str, requests: list[Request], close: bool) -> None:
            cpu = tree_cpu_seconds(pids[key[0]])
            result = run_load("wrk", base, requests, CONCURRENCY, args.duration, close=close)
            used = (tree_cpu_seconds(pids[key[0]]) - cpu) / max(result.requests, 1) * 1e6
            results.setdefault(key, []).append(result)
            cpu_us.setdefault(key, []).append(used)
            print(
                f"  {' '.join(key):<28} {result.rps:8.0f} req/s p99 {result.p99_ms:6.2f} ms"
                f" server CPU {used:6.1f} us/request",
                flush=True,
            )

        for server in servers.values():  # warm both
            run_load("wrk", server.base_url, signed_show_requests(server.base_url, creds, ids), 16, 1.0)
        for round_ in range(args.rounds):
            order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
            for mode in MODES:
                close = mode == "close"
                load(("floor", "show", mode), floor.base_url, [Request("/", {})], close)
                for name in order:
                    base = servers[name].base_url
                    load((name, "show", mode), base, signed_show_requests(base, creds, ids), close)
                    load((name, "v2show", mode), base, token_show_requests(base, creds, ids), close)
        rows = []
        for mode in MODES:
            floor_best = max(results[("floor", "show", mode)], key=lambda r: r.rps)
            for what in ("show", "v2show"):
                row: dict[str, object] = {"what": what, "connection": mode}
                for name in servers:
                    best = max(results[(name, what, mode)], key=lambda r: r.rps)
                    row[f"{name}_rps"] = best.rps
                    row[f"{name}_p99_ms"] = best.p99_ms
                    row[f"{name}/floor"] = ratio(best.rps, floor_best.rps)
                    row[f"{name}_cpu_us"] = min(cpu_us[(name, what, mode)])
                    report.figure(
                        f"{what}_{name}",
                        connection=mode,
                        rps=best.rps,
                        p99_ms=best.p99_ms,
                        workers=args.workers,
                    )
                row["floor_rps"] = floor_best.rps
                row["floor_p99_ms"] = floor_best.p99_ms
                row["floor_cpu_us"] = min(cpu_us[("floor", "show", mode)])
                row["after/before"] = ratio(float(row["after_rps"]), float(row["before_rps"]))  # type: ignore[arg-type]
                rows.append(row)
            report.figure("floor", connection=mode, rps=floor_best.rps, p99_ms=floor_best.p99_ms)
        report.table("best round of each (req/s, p99 of that round)", rows)
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
