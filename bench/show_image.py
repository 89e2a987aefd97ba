"""Show Image throughput and latency, as ratios to a bare ASGI app and to ``GET /`` on the same stack.

    python bench/show_image.py [--quick] [--duration S] [--loadgen auto|wrk|python] [--glance FILE]
    python bench/show_image.py --target URL --access-key AK --secret-key SK --image-id ID[,ID...]
    python bench/show_image.py --target URL --path /v2/images/ID [--header 'X-Auth-Token: ...']

Without ``--target`` it seeds 10,000 images into a temporary SQLite data dir, starts
``scp-images serve`` on 127.0.0.1 with each ``--workers`` count (default 1 and 2) and beside it the
floor (``bench/floor_app.py``: a bare ASGI app answering the bytes of a real Show response, on the same
server stack with as many workers), and drives, interleaved for each point: signed
``GET /v1/images/{id}`` (rotating over pre-signed requests for different images; signatures are
regenerated before each measurement), the OpenStack edge's ``GET /image/v2/images/{id}`` with an
``X-Auth-Token`` from our ``/identity/v3/auth/tokens``, ``GET /`` and the floor; with keep-alive and with
``Connection: close``; at concurrency 1, 16 and 64 for the first worker count with keep-alive, at 16 for
the rest. The figures are ratios: show/floor, show/root, v2 show/show on the same run, and show over
Glance's show with as many workers at c=16 when ``--glance FILE`` names the output of a
``glance_bench.sh`` run made just before.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from _common import (
    Credentials,
    Report,
    fmt,
    measurement_seconds,
    ratio,
    run_main,
    running_floor,
    running_server,
    serve_supports_workers,
    signed_headers,
    verdict,
)
from _glance import ENV_VAR, NO_FIGURE, GlanceRun, load_glance
from _load import LoadResult, Request, available_generator, run_load
from _seed import seed_images

from scp_images.app import build_components
from scp_images.config import Settings

IMAGE_COUNT = 10_000
SIGNED_REQUESTS = 2000  # distinct pre-signed requests wrk rotates over
CONCURRENCIES = (1, 16, 64)  # for the first (workers, connection) pair; the others at GOAL_CONCURRENCY only
GOAL_CONCURRENCY = 16
GOAL_X_GLANCE = {"keep-alive": 15.0, "close": 10.0}  # Glance's uWSGI closes every connection
GOAL_SHOW_OVER_FLOOR = 0.25
GOAL_P99_OVER_FLOOR = 2.0  # at c=16, 1 worker
GOAL_V2_OVER_SHOW = 0.9  # the OpenStack edge's show within 10% of the SCP show
GOAL_SHOW_OVER_ROOT = 0.7
MODES = ("keep-alive", "close")


@dataclass
class Target:
    """What to load: a base URL and a way to (re)build the show and root request lists."""

    label: str
    base_url: str
    show_requests: Callable[[], list[Request]]
    root_requests: Callable[[], list[Request]]
    floor_url: str | None = None  # the bare app on the same stack
    v2_requests: Callable[[], list[Request]] | None = None  # the OpenStack edge's show


@dataclass(frozen=True)
class Measured:
    workers: int
    mode: str  # "keep-alive" or "close"
    concurrency: int
    show: LoadResult
    root: LoadResult
    floor: LoadResult | None = None
    v2: LoadResult | None = None


# --------------------------------------------------------------------------- seeding


def seed(data_dir: Path, count: int) -> tuple[Credentials, list[str]]:
    parts = build_components(Settings(data_dir=data_dir, database_url=None, blob_url=None))
    try:
        return seed_images(parts, count)
    finally:
        parts.close()


# --------------------------------------------------------------------------- request lists


def signed_show_requests(base_url: str, creds: Credentials, ids: list[str]) -> list[Request]:
    chosen = random.sample(ids, min(SIGNED_REQUESTS, len(ids)))
    path = "/v1/images/{}"
    return [Request(path.format(i), signed_headers("GET", base_url + path.format(i), creds)) for i in chosen]


def token_show_requests(base_url: str, creds: Credentials, ids: list[str]) -> list[Request]:
    """The OpenStack edge's show: one token for every request (a token is not single-use, unlike a
    signature), images rotated as for the signed show."""
    credential = {"id": creds.access_key, "secret": creds.secret_key}
    identity = {"methods": ["application_credential"], "application_credential": credential}
    answer = httpx.post(
        f"{base_url}/identity/v3/auth/tokens", json={"auth": {"identity": identity}}, timeout=10
    )
    if answer.status_code != 201:
        raise SystemExit(f"token: {answer.status_code} {answer.text[:300]}")
    headers = {"X-Auth-Token": answer.headers["X-Subject-Token"]}
    return [
        Request(f"/image/v2/images/{i}", headers) for i in random.sample(ids, min(SIGNED_REQUESTS, len(ids)))
    ]


def parse_headers(values: list[str]) -> dict[str, str]:
    headers = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep:
            raise SystemExit(f"--header {value!r} is not 'Name: value'")
        headers[name.strip()] = content.strip()
    return headers


def external_target(args: argparse.Namespace) -> Target:
    base = args.target.rstrip("/")
    if urlsplit(base).hostname != "127.0.0.1":
        raise SystemExit("--target must be on 127.0.0.1")
    extra = parse_headers(args.header)
    root = [Request("/", extra)]
    if args.access_key and args.secret_key and args.image_id:
        creds = Credentials(args.access_key, args.secret_key)
        ids = [i for chunk in args.image_id for i in chunk.split(",") if i]
        return Target(
            f"signed GET /v1/images/{{id}} on {base}",
            base,
            lambda: [Request(r.path, {**r.headers, **extra}) for r in signed_show_requests(base, creds, ids)],
            lambda: root,
        )
    if not args.path:
        raise SystemExit("--target needs --access-key, --secret-key and --image-id, or --path")
    return Target(
        f"unsigned GET {args.path} on {base}", base, lambda: [Request(args.path, extra)], lambda: root
    )


# --------------------------------------------------------------------------- measuring


def check_requests(base_url: str, requests: list[Request], what: str) -> None:
    """One request first, so a wrong signature is an error message rather than a fast 401 benchmark."""
    response = httpx.get(base_url + requests[0].path, headers=requests[0].headers, timeout=10.0)
    if response.status_code >= 400:
        raise SystemExit(f"{what}: {requests[0].path} answered {response.status_code}: {response.text[:300]}")


def measure(
    target: Target, generator: str, seconds: float, quick: bool, workers: int, first: bool
) -> list[Measured]:
    """Root, show, floor and v2 show, interleaved; keep-alive then ``Connection: close``; all
    concurrencies only when ``first``."""
    check_requests(target.base_url, target.show_requests(), "show")
    check_requests(target.base_url, target.root_requests(), "root")
    if target.v2_requests is not None:
        check_requests(target.base_url, target.v2_requests(), "v2 show")
    warm = 1.0 if quick else 2.0
    run_load(generator, target.base_url, target.show_requests(), GOAL_CONCURRENCY, warm)
    out = []
    for mode in MODES:
        close = mode == "close"
        for concurrency in CONCURRENCIES if first and not close else (GOAL_CONCURRENCY,):

            def load(
                base: str, requests: list[Request], c: int = concurrency, close: bool = close
            ) -> LoadResult:
                return run_load(generator, base, requests, c, seconds, close=close)

            root = load(target.base_url, target.root_requests())
            show = load(target.base_url, target.show_requests())
            floor = load(target.floor_url, [Request("/", {})]) if target.floor_url else None
            v2 = load(target.base_url, target.v2_requests()) if target.v2_requests else None
            line = (
                f"  workers={workers} {mode:<10} c={concurrency:<3} show {show.rps:8.0f} req/s "
                f"p99 {show.p99_ms:7.2f} ms | root {root.rps:8.0f} req/s p99 {root.p99_ms:7.2f} ms"
            )
            if floor is not None:
                line += f" | floor {floor.rps:8.0f} req/s p99 {floor.p99_ms:7.2f} ms"
            if v2 is not None:
                line += f" | v2 show {v2.rps:8.0f} req/s p99 {v2.p99_ms:7.2f} ms"
            print(line, flush=True)
            out.append(Measured(workers, mode, concurrency, show, root, floor, v2))
    return out


def report_results(
    report: Report, results: list[Measured], glance: GlanceRun | None, show_path: str = "/v1/images/{id}"
) -> None:
    rows = []
    for m in results:
        row = {
            "workers": m.workers,
            "connection": m.mode,
            "c": m.concurrency,
            "show_rps": m.show.rps,
            "show_p50_ms": m.show.p50_ms,
            "show_p99_ms": m.show.p99_ms,
            "root_rps": m.root.rps,
            "root_p99_ms": m.root.p99_ms,
            "show/root": ratio(m.show.rps, m.root.rps),
        }
        if m.floor is not None:
            row |= {"floor_rps": m.floor.rps, "floor_p99_ms": m.floor.p99_ms}
            row["show/floor"] = ratio(m.show.rps, m.floor.rps)
        if m.v2 is not None:
            row |= {"v2_rps": m.v2.rps, "v2/show": ratio(m.v2.rps, m.show.rps)}
        row["errors"] = sum(r.errors for r in (m.show, m.root, m.floor, m.v2) if r is not None)
        rows.append(row)
        common = {"workers": m.workers, "connection": m.mode, "c": m.concurrency}
        s, r = m.show, m.root
        report.figure("show_image", **common, rps=s.rps, p50_ms=s.p50_ms, p99_ms=s.p99_ms, errors=s.errors)
        report.figure("root", **common, rps=r.rps, p50_ms=r.p50_ms, p99_ms=r.p99_ms, errors=r.errors)
        report.figure(
            "show_over_root",
            **common,
            rps_ratio=ratio(s.rps, r.rps),
            p99_ratio=ratio(s.p99_ms, r.p99_ms),
            goal=GOAL_SHOW_OVER_ROOT,
            verdict=verdict(ratio(s.rps, r.rps) >= GOAL_SHOW_OVER_ROOT),
        )
        if m.floor is not None:
            report_floor(report, m, m.floor, common)
        if m.v2 is not None:
            v = m.v2
            report.figure("v2_show", **common, rps=v.rps, p50_ms=v.p50_ms, p99_ms=v.p99_ms, errors=v.errors)
            report.figure(
                "v2_over_show",
                **common,
                rps_ratio=ratio(v.rps, s.rps),
                goal=GOAL_V2_OVER_SHOW,
                verdict=verdict(ratio(v.rps, s.rps) >= GOAL_V2_OVER_SHOW),
            )
    title = f"GET {show_path} (show) vs GET / (root), the bare app (floor) and the v2 show, same run"
    report.table(title, rows)
    report_goals(report, [m for m in results if m.concurrency == GOAL_CONCURRENCY], glance)


def report_floor(report: Report, m: Measured, floor: LoadResult, common: dict[str, object]) -> None:
    """Show over the bare app on the same stack (goal >= 0.25); p99 over the floor's at c=16, 1 worker."""
    f = floor
    report.figure("floor", **common, rps=f.rps, p50_ms=f.p50_ms, p99_ms=f.p99_ms, errors=f.errors)
    show_over_floor = ratio(m.show.rps, floor.rps)
    p99 = {"p99_ratio": ratio(m.show.p99_ms, floor.p99_ms)}
    if m.workers == 1 and m.concurrency == GOAL_CONCURRENCY and m.mode == "keep-alive":
        met = p99["p99_ratio"] <= GOAL_P99_OVER_FLOOR
        p99 |= {"goal_p99_ratio": GOAL_P99_OVER_FLOOR, "p99_verdict": verdict(met)}
    report.figure(
        "show_over_floor",
        **common,
        rps_ratio=show_over_floor,
        goal=GOAL_SHOW_OVER_FLOOR,
        verdict=verdict(show_over_floor >= GOAL_SHOW_OVER_FLOOR),
        **p99,
    )


def report_goals(report: Report, results: list[Measured], glance: GlanceRun | None) -> None:
    """At c=16: >= 15x Glance's req/s with as many workers with keep-alive, >= 10x with
    ``Connection: close`` (Glance closes every connection, so that is the like-for-like ratio)."""
    if glance is None:
        report.note(f"{NO_FIGURE}: no Glance ratio (pass --glance FILE, the output of glance_bench.sh)")
    for m in results:
        theirs = glance.get("show", m.workers, m.concurrency) if glance is not None else None
        x_glance = {}
        if theirs is not None:
            goal = GOAL_X_GLANCE[m.mode]
            x_glance = {
                "glance_rps": theirs.rps,
                "glance_p99_ms": theirs.p99_ms,
                "x_glance": ratio(m.show.rps, theirs.rps),
                "goal_x_glance": goal,
                "x_glance_verdict": verdict(ratio(m.show.rps, theirs.rps) >= goal),
            }
        elif glance is not None:
            report.note(f"the Glance output has no show figure for workers={m.workers} conc={m.concurrency}")
        report.figure(
            "goal",
            workers=m.workers,
            connection=m.mode,
            c=m.concurrency,
            rps=m.show.rps,
            p99_ms=m.show.p99_ms,
            **x_glance,
        )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="~3 s per measurement instead of ~10 s")
    parser.add_argument("--duration", type=float, help="seconds per measurement (overrides --quick)")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--images", type=int, default=IMAGE_COUNT, help="images to seed")
    parser.add_argument(
        "--glance", help=f"saved output of a glance_bench.sh run made just before (else ${ENV_VAR})"
    )
    parser.add_argument(
        "--workers", default="1,2", help="server worker counts to measure, comma separated (serve --workers)"
    )
    parser.add_argument(
        "--api", choices=("scp", "openstack"), default="scp", help="ignored: both edges' shows are measured"
    )
    parser.add_argument("--target", help="measure this running server (127.0.0.1) instead of starting ours")
    parser.add_argument("--access-key")
    parser.add_argument("--secret-key")
    parser.add_argument(
        "--image-id", action="append", default=[], help="image id(s), repeat or comma-separate"
    )
    parser.add_argument("--path", help="unsigned path to GET on --target (e.g. a Glance image URL)")
    parser.add_argument(
        "--header", action="append", default=[], help="extra 'Name: value' header for --target"
    )
    return parser.parse_args(argv)


def worker_counts(report: Report, text: str) -> list[int]:
    counts = [int(x) for x in text.split(",") if x.strip()]
    if any(n != 1 for n in counts) and not serve_supports_workers():
        report.note("scp-images serve has no --workers option: measuring 1 worker only")
        counts = [n for n in counts if n == 1] or [1]
    return counts


def run(args: argparse.Namespace, report: Report, generator: str, seconds: float) -> list[Measured]:
    if args.target:
        target = external_target(args)
        report.note(f"target: {target.label}")
        return measure(target, generator, seconds, args.quick, workers=1, first=True)
    if args.api != "scp":
        report.note("--api is no longer needed: the OpenStack edge's show is measured beside the SCP show")
    results: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="scp-bench-show-") as tmp:
        data_dir = Path(tmp) / "data"
        creds, ids = seed(data_dir, args.images)
        print(f"seeded {len(ids)} images in {data_dir}", flush=True)
        env = {"SCP_IMAGES_DATABASE_URL": "", "SCP_IMAGES_BLOB_URL": ""}
        for index, workers in enumerate(worker_counts(report, args.workers)):
            with running_server(data_dir, env, workers=workers) as server:
                body = Path(tmp) / "show-body.json"
                body.write_bytes(show_body(server.base_url, creds, ids))
                with running_floor(body, workers) as floor:
                    floor_url = floor.base_url
                    target = Target(
                        f"scp-images serve ({workers} worker(s), SQLite, {len(ids)} images)",
                        server.base_url,
                        lambda base=server.base_url: signed_show_requests(base, creds, ids),
                        lambda: [Request("/", {})],
                        floor_url,
                        lambda base=server.base_url: token_show_requests(base, creds, ids),
                    )
                    report.note(
                        f"target: {target.label} at {server.base_url}; floor: bench/floor_app.py, "
                        f"{body.stat().st_size} bytes of a real Show, {workers} worker(s), at {floor_url}"
                    )
                    results += measure(target, generator, seconds, args.quick, workers, first=index == 0)
    return results


def show_body(base_url: str, creds: Credentials, ids: list[str]) -> bytes:
    """The bytes of one real Show response, for the floor to answer."""
    (request,) = signed_show_requests(base_url, creds, ids[:1])
    response = httpx.get(base_url + request.path, headers=request.headers, timeout=10.0)
    response.raise_for_status()
    return response.content


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    seconds = measurement_seconds(args.quick, args.duration)
    generator = available_generator(args.loadgen)
    glance = load_glance(args.glance)
    name = "show_image-target" if args.target else "show_image"  # never overwrite our own figures
    report = Report(name, {k: v for k, v in vars(args).items() if k != "secret_key"})
    report.note(
        f"load generator: {generator}"
        + (
            " (wrk -t1 below c=2, else -t2, --latency, Lua rotating pre-signed requests)"
            if generator == "wrk"
            else " (asyncio + httpx, shares the CPUs)"
        )
    )
    report.note(f"{fmt(seconds)} s per measurement, concurrency {', '.join(map(str, CONCURRENCIES))}")
    if glance is not None:
        report.note(glance.describe())
        for warning in glance.warnings():
            report.note(warning)
    results = run(args, report, generator, seconds)
    report_results(report, results, glance)
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
