"""Show Image throughput and latency, as a ratio to the unauthenticated ``GET /`` of the same server.

    python bench/show_image.py [--quick] [--duration S] [--loadgen auto|wrk|python]
    python bench/show_image.py --target URL --access-key AK --secret-key SK --image-id ID[,ID...]
    python bench/show_image.py --target URL --path /v2/images/ID [--header 'X-Auth-Token: ...']

Without ``--target`` it seeds 10,000 images into a temporary SQLite data dir, starts
``scp-images serve`` (one uvicorn worker) on 127.0.0.1 and drives signed ``GET /v1/images/{id}``
(rotating over pre-signed requests for different images; signatures are regenerated before each
measurement) and ``GET /`` at concurrency 1, 16 and 64. The show/root ratios are the figures;
absolute requests/s depend on the (shared, noisy) machine.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
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
    signed_headers,
    verdict,
)
from _load import LoadResult, Request, available_generator, run_load

from scp_images.app import build_components
from scp_images.config import Settings
from scp_images.domain.image import Image, ImageStatus, Visibility, new_image_id
from scp_images.store.sql import images as image_store

IMAGE_COUNT = 10_000
BATCH = 1000
SIGNED_REQUESTS = 2000  # distinct pre-signed requests wrk rotates over
CONCURRENCIES = (1, 16, 64)
GLANCE_RPS = (140, 195)
GOAL_RPS = 10 * GLANCE_RPS[1]
GOAL_P99_MS = 20.0
GOAL_CONCURRENCY = 16
T0 = datetime(2026, 1, 1)


@dataclass
class Target:
    """What to load: a base URL and a way to (re)build the show and root request lists."""

    label: str
    base_url: str
    show_requests: Callable[[], list[Request]]
    root_requests: Callable[[], list[Request]]


# --------------------------------------------------------------------------- seeding


def _image(owner: str, index: int) -> Image:
    created = T0 + timedelta(seconds=index * 37)
    return Image(
        id=new_image_id(),
        name=f"bench-{index:05d}",
        owner=owner,
        status=ImageStatus.ACTIVE,
        visibility=Visibility.PUBLIC if index % 4 == 0 else Visibility.PRIVATE,
        created_at=created,
        updated_at=created,
        os_distro="ubuntu",
        scp_os_version="22.04",
        scp_image_type="custom",
        size=2 << 30,
        virtual_size=20 << 30,
        min_disk=20,
        checksum=f"{index:032x}",
        os_hash_algo="sha512",
        os_hash_value=f"{index:0128x}",
    )


def seed(data_dir: Path, count: int) -> tuple[Credentials, list[str]]:
    parts = build_components(Settings(data_dir=data_dir, database_url=None, blob_url=None))
    try:
        account = parts.accounts.create_account("bench")
        key = parts.accounts.create_key(account.id, "bench@example.com")
        ids: list[str] = []
        for start in range(0, count, BATCH):
            with parts.db.transaction() as conn:
                for index in range(start, min(start + BATCH, count)):
                    image = _image(account.id, index)
                    image_store.insert_image(conn, image)
                    ids.append(image.id)
    finally:
        parts.close()
    return Credentials(key.access_key, key.secret_key, account.id), ids


# --------------------------------------------------------------------------- request lists


def signed_show_requests(base_url: str, creds: Credentials, ids: list[str]) -> list[Request]:
    chosen = random.sample(ids, min(SIGNED_REQUESTS, len(ids)))
    path = "/v1/images/{}"
    return [Request(path.format(i), signed_headers("GET", base_url + path.format(i), creds)) for i in chosen]


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
    target: Target, generator: str, seconds: float, quick: bool
) -> dict[int, tuple[LoadResult, LoadResult]]:
    check_requests(target.base_url, target.show_requests(), "show")
    check_requests(target.base_url, target.root_requests(), "root")
    run_load(
        generator, target.base_url, target.show_requests(), GOAL_CONCURRENCY, 1.0 if quick else 2.0
    )  # warm-up
    results = {}
    for concurrency in CONCURRENCIES:
        root = run_load(generator, target.base_url, target.root_requests(), concurrency, seconds)
        show = run_load(generator, target.base_url, target.show_requests(), concurrency, seconds)
        print(
            f"  c={concurrency:<3} show {show.rps:8.0f} req/s p99 {show.p99_ms:7.2f} ms | "
            f"root {root.rps:8.0f} req/s p99 {root.p99_ms:7.2f} ms",
            flush=True,
        )
        results[concurrency] = (show, root)
    return results


def report_results(report: Report, results: dict[int, tuple[LoadResult, LoadResult]]) -> None:
    rows = []
    for c, (show, root) in results.items():
        rows.append(
            {
                "c": c,
                "show_rps": show.rps,
                "show_p50_ms": show.p50_ms,
                "show_p99_ms": show.p99_ms,
                "root_rps": root.rps,
                "root_p50_ms": root.p50_ms,
                "root_p99_ms": root.p99_ms,
                "rps_ratio": ratio(show.rps, root.rps),
                "p99_ratio": ratio(show.p99_ms, root.p99_ms),
                "errors": show.errors + root.errors,
            }
        )
    report.table("GET /v1/images/{id} (show) vs GET / (root), same server, same run", rows)
    for c, (show, root) in results.items():
        report.figure(
            "show_image", c=c, rps=show.rps, p50_ms=show.p50_ms, p99_ms=show.p99_ms, errors=show.errors
        )
        report.figure("root", c=c, rps=root.rps, p50_ms=root.p50_ms, p99_ms=root.p99_ms, errors=root.errors)
        report.figure(
            "show_over_root",
            c=c,
            rps_ratio=ratio(show.rps, root.rps),
            p50_ratio=ratio(show.p50_ms, root.p50_ms),
            p99_ratio=ratio(show.p99_ms, root.p99_ms),
        )
    show = results[GOAL_CONCURRENCY][0]
    report.note(
        f"Context: Glance 33 on this machine serves its image GET at about {GLANCE_RPS[0]}-{GLANCE_RPS[1]} "
        f"req/s on one worker (p99 110-210 ms at c=16). Goal: >= 10x that (>= {GOAL_RPS} req/s) and "
        f"p99 < {GOAL_P99_MS:.0f} ms at c={GOAL_CONCURRENCY} (reported, not a gate)."
    )
    report.figure(
        "goal",
        c=GOAL_CONCURRENCY,
        rps=show.rps,
        goal_rps=GOAL_RPS,
        rps_verdict=verdict(show.rps >= GOAL_RPS),
        p99_ms=show.p99_ms,
        goal_p99_ms=GOAL_P99_MS,
        p99_verdict=verdict(show.p99_ms < GOAL_P99_MS),
        x_glance=ratio(show.rps, sum(GLANCE_RPS) / 2),
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


def run(args: argparse.Namespace, report: Report, generator: str, seconds: float) -> None:
    if args.target:
        target = external_target(args)
        report.note(f"target: {target.label}")
        report_results(report, measure(target, generator, seconds, args.quick))
        return
    with tempfile.TemporaryDirectory(prefix="scp-bench-show-") as tmp:
        data_dir = Path(tmp) / "data"
        creds, ids = seed(data_dir, args.images)
        print(f"seeded {len(ids)} images in {data_dir}", flush=True)
        env = {"SCP_IMAGES_DATABASE_URL": "", "SCP_IMAGES_BLOB_URL": ""}
        with running_server(data_dir, env) as server:
            target = Target(
                f"scp-images serve (1 uvicorn worker, SQLite, {len(ids)} images)",
                server.base_url,
                lambda: signed_show_requests(server.base_url, creds, ids),
                lambda: [Request("/", {})],
            )
            report.note(f"target: {target.label} at {server.base_url}")
            report_results(report, measure(target, generator, seconds, args.quick))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    seconds = measurement_seconds(args.quick, args.duration)
    generator = available_generator(args.loadgen)
    name = "show_image-target" if args.target else "show_image"  # never overwrite our own figures
    report = Report(name, {k: v for k, v in vars(args).items() if k != "secret_key"})
    report.note(
        f"load generator: {generator}"
        + (
            " (wrk -t1 --latency, Lua rotating pre-signed requests)"
            if generator == "wrk"
            else " (asyncio + httpx, shares the CPUs)"
        )
    )
    report.note(f"{fmt(seconds)} s per measurement, concurrency {', '.join(map(str, CONCURRENCIES))}")
    run(args, report, generator, seconds)
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
