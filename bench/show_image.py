"""Show Image throughput and latency, as a ratio to the unauthenticated ``GET /`` of the same server.

    python bench/show_image.py [--quick] [--duration S] [--loadgen auto|wrk|python]
    python bench/show_image.py --target URL --access-key AK --secret-key SK --image-id ID[,ID...]
    python bench/show_image.py --target URL --path /v2/images/ID [--header 'X-Auth-Token: ...']
    python bench/show_image.py --api openstack [--quick]   # our OpenStack edge: GET /image/v2/images/{id}

Without ``--target`` it seeds 10,000 images into a temporary SQLite data dir, starts
``scp-images serve`` on 127.0.0.1 with each ``--workers`` count (default 1 and 2) and drives signed
``GET /v1/images/{id}`` (rotating over pre-signed requests for different images; signatures are
regenerated before each measurement) and ``GET /``, with keep-alive and with ``Connection: close``:
at concurrency 1, 16 and 64 for the first worker count with keep-alive, at 16 for the rest. The
figures are ratios: show/root on the same server, and show over Glance's show with as many workers
at c=16 when ``--glance FILE`` names the output of a ``glance_bench.sh`` run made just before.
With ``--api openstack`` the show is our Glance-compatible ``GET /image/v2/images/{id}`` with an
``X-Auth-Token`` (one token from the Keystone endpoint), the same call Glance's show is measured with.
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
GOAL_X_GLANCE = 10.0
GOAL_P99_MS = 10.0
GOAL_SHOW_OVER_ROOT = 0.7
MODES = ("keep-alive", "close")


@dataclass
class Target:
    """What to load: a base URL and a way to (re)build the show and root request lists."""

    label: str
    base_url: str
    show_requests: Callable[[], list[Request]]
    root_requests: Callable[[], list[Request]]


@dataclass(frozen=True)
class Measured:
    workers: int
    mode: str  # "keep-alive" or "close"
    concurrency: int
    show: LoadResult
    root: LoadResult


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
    """Root and show, keep-alive then ``Connection: close``; all concurrencies only when ``first``."""
    check_requests(target.base_url, target.show_requests(), "show")
    check_requests(target.base_url, target.root_requests(), "root")
    warm = 1.0 if quick else 2.0
    run_load(generator, target.base_url, target.show_requests(), GOAL_CONCURRENCY, warm)
    out = []
    for mode in MODES:
        close = mode == "close"
        for concurrency in CONCURRENCIES if first and not close else (GOAL_CONCURRENCY,):
            root = run_load(
                generator, target.base_url, target.root_requests(), concurrency, seconds, close=close
            )
            show = run_load(
                generator, target.base_url, target.show_requests(), concurrency, seconds, close=close
            )
            print(
                f"  workers={workers} {mode:<10} c={concurrency:<3} show {show.rps:8.0f} req/s "
                f"p99 {show.p99_ms:7.2f} ms | root {root.rps:8.0f} req/s p99 {root.p99_ms:7.2f} ms",
                flush=True,
            )
            out.append(Measured(workers, mode, concurrency, show, root))
    return out


def report_results(
    report: Report, results: list[Measured], glance: GlanceRun | None, show_path: str = "/v1/images/{id}"
) -> None:
    rows = []
    for m in results:
        rows.append(
            {
                "workers": m.workers,
                "connection": m.mode,
                "c": m.concurrency,
                "show_rps": m.show.rps,
                "show_p50_ms": m.show.p50_ms,
                "show_p99_ms": m.show.p99_ms,
                "root_rps": m.root.rps,
                "root_p99_ms": m.root.p99_ms,
                "show/root": ratio(m.show.rps, m.root.rps),
                "errors": m.show.errors + m.root.errors,
            }
        )
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
    report.table(f"GET {show_path} (show) vs GET / (root), same server, same run", rows)
    report_goals(report, [m for m in results if m.concurrency == GOAL_CONCURRENCY], glance)


def report_goals(report: Report, results: list[Measured], glance: GlanceRun | None) -> None:
    """At c=16: p99 < 10 ms, and >= 10x Glance's req/s with as many workers (Glance closes every
    connection, so ``close`` is the like-for-like ratio; keep-alive is shown beside it)."""
    if glance is None:
        report.note(f"{NO_FIGURE}: no Glance ratio (pass --glance FILE, the output of glance_bench.sh)")
    for m in results:
        theirs = glance.get("show", m.workers, m.concurrency) if glance is not None else None
        x_glance = {}
        if theirs is not None:
            x_glance = {
                "glance_rps": theirs.rps,
                "glance_p99_ms": theirs.p99_ms,
                "x_glance": ratio(m.show.rps, theirs.rps),
                "goal_x_glance": GOAL_X_GLANCE,
                "x_glance_verdict": verdict(ratio(m.show.rps, theirs.rps) >= GOAL_X_GLANCE),
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
            goal_p99_ms=GOAL_P99_MS,
            p99_verdict=verdict(m.show.p99_ms < GOAL_P99_MS),
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
        "--api", choices=("scp", "openstack"), default="scp", help="which edge's show to measure (ours only)"
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
    results: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="scp-bench-show-") as tmp:
        data_dir = Path(tmp) / "data"
        creds, ids = seed(data_dir, args.images)
        print(f"seeded {len(ids)} images in {data_dir}", flush=True)
        env = {"SCP_IMAGES_DATABASE_URL": "", "SCP_IMAGES_BLOB_URL": ""}
        show_requests = token_show_requests if args.api == "openstack" else signed_show_requests
        for index, workers in enumerate(worker_counts(report, args.workers)):
            with running_server(data_dir, env, workers=workers) as server:
                target = Target(
                    f"scp-images serve ({workers} worker(s), SQLite, {len(ids)} images, {args.api} show)",
                    server.base_url,
                    lambda base=server.base_url: show_requests(base, creds, ids),
                    lambda: [Request("/", {})],
                )
                report.note(f"target: {target.label} at {server.base_url}")
                results += measure(target, generator, seconds, args.quick, workers, first=index == 0)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    seconds = measurement_seconds(args.quick, args.duration)
    generator = available_generator(args.loadgen)
    glance = load_glance(args.glance)
    # never overwrite our own figures
    name = (
        "show_image-target"
        if args.target
        else "show_image" + ("-openstack" if args.api == "openstack" else "")
    )
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
    report_results(
        report, results, glance, "/image/v2/images/{id}" if args.api == "openstack" else "/v1/images/{id}"
    )
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
