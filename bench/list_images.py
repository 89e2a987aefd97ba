"""List Images: a page of 1,000 on SQLite and PostgreSQL; first vs deep page on PostgreSQL at 1M.

    python bench/list_images.py [--quick] [--duration S] [--glance FILE]

First a page of 1,000 (``limit=1000``, the largest) out of 10,000 images, on SQLite and then on
PostgreSQL, timed as sequential signed requests interleaved with single Shows on the same server,
with keep-alive and with ``Connection: close``: figures ``list_1000`` (median), ``list_1000_over_show``
(goal <= 50) and, with ``--glance FILE`` (the output of a ``glance_bench.sh`` run made just before),
``list_1000_x_glance``: Glance's median for its list of 1,000 at c=1 over ours (goal >= 15).

Then the page of 20:

Creates a throw-away database on the server named by ``SCP_IMAGES_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``), migrates it, seeds 10,000 images and
then 1,000,000 (``--quick``: 100,000) with one ``INSERT ... SELECT generate_series`` per 100k rows,
starts ``scp-images serve`` on it for each size and times sequential signed ``GET /v1/images``
requests: the first page, a deep page (marker = an image 20 rows from the end of the order) and,
for context, a middle page (marker half-way), for the default ``created_at:desc`` and for
``sort=name:asc``. Variants are interleaved request by
request so they see the same machine; the deep/first ratio of medians is the figure (goal <= 1.5).
The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
from _common import (
    Credentials,
    Report,
    measurement_seconds,
    percentile,
    ratio,
    run_main,
    running_server,
    signed_headers,
    verdict,
)
from _glance import ENV_VAR, NO_FIGURE, GlanceRun, load_glance
from _seed import admin_url, libpq, seed_images, throwaway_database
from sqlalchemy import make_url

from scp_images.app import build_components
from scp_images.config import Settings

SEED_BATCH = 100_000
DEEP_OFFSET = 20  # the marker is this many rows before the end of the order: a full last page follows it
SORTS = ("created_at:desc", "name:asc")
GOAL_DEEP_OVER_FIRST = 1.5
PAGE = 1000  # the largest page; Glance's list benchmark asks for the same
GOAL_PAGE_OVER_SHOW = 50.0
GOAL_PAGE_X_GLANCE = 15.0
MAX_REQUESTS_PER_VARIANT = 5000
MIN_ROUNDS = 5  # at least this many requests per variant, however slow

_INSERT = """
INSERT INTO images (id, name, owner, status, visibility, protected, os_hidden, container_format, disk_format,
                    min_disk, min_ram, created_at, updated_at, checksum, os_distro, os_hash_algo,
                    os_hash_value,
                    size, virtual_size, scp_image_type, scp_os_version, tags)
SELECT gen_random_uuid()::text,
       'bench-' || lpad(((g * 7919) %% 1000003)::text, 7, '0'),
       CASE WHEN g %% 4 = 0 THEN %(other)s ELSE %(owner)s END,
       'active',
       CASE WHEN g %% 4 = 0 THEN 'public' ELSE 'private' END,
       false, false, 'bare', 'qcow2', 20, 0,
       timestamp '2026-01-01' + g * interval '1 second',
       timestamp '2026-01-01' + g * interval '1 second',
       md5(g::text),
       (ARRAY['ubuntu', 'rocky', 'rhel', 'windows'])[1 + g %% 4],
       'sha512', repeat(md5(g::text), 4),
       2147483648 + g, 21474836480, 'custom', '22.04', '[]'::json
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
"""

# Markers counted from the END of each order: OFFSET 20 gives the deepest full page a client can ask
# for; OFFSET count/2 a page in the middle (context: how far a keyset page has to walk).
_MARKER_SQL = {
    "created_at:desc": "SELECT id FROM images ORDER BY created_at ASC, id ASC OFFSET %s LIMIT 1",
    "name:asc": "SELECT id FROM images ORDER BY name DESC, id DESC OFFSET %s LIMIT 1",
}
PAGES = ("first", "mid", "deep")


# --------------------------------------------------------------------------- throw-away database


def prepare(url: str, data_dir: Path) -> Credentials:
    """Migrate (through the application's own code) and create the bench account and key."""
    parts = build_components(Settings(data_dir=data_dir, database_url=url, blob_url=None))
    try:
        account = parts.accounts.create_account("bench")
        key = parts.accounts.create_key(account.id, "bench@example.com")
    finally:
        parts.close()
    return Credentials(key.access_key, key.secret_key, account.id)


def seed(url: str, owner: str, have: int, want: int) -> float:
    """Grow the images table from ``have`` to ``want`` rows; returns seconds spent."""
    started = time.perf_counter()
    other = secrets.token_hex(16)
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        for first in range(have + 1, want + 1, SEED_BATCH):
            last = min(first + SEED_BATCH - 1, want)
            conn.execute(_INSERT, {"first": first, "last": last, "owner": owner, "other": other})
            print(
                f"  seeded {last:,} / {want:,} images", end="\r" if sys.stdout.isatty() else "\n", flush=True
            )
        conn.execute("ANALYZE images")
    if sys.stdout.isatty():
        print()
    return time.perf_counter() - started


def markers(url: str, count: int) -> dict[tuple[str, str], str]:
    offsets = {"mid": count // 2, "deep": DEEP_OFFSET}
    found = {}
    with psycopg.connect(libpq(url)) as conn:
        for sort, sql in _MARKER_SQL.items():
            for page, offset in offsets.items():
                found[(sort, page)] = conn.execute(sql, (offset,)).fetchone()[0]
    return found


# --------------------------------------------------------------------------- timing


@dataclass
class Variant:
    sort: str
    page: str  # "first", "mid" or "deep"
    query: str
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return percentile(self.latencies_ms, 50)


def variants(marker_ids: dict[tuple[str, str], str]) -> list[Variant]:
    out = []
    for sort in SORTS:
        params = {} if sort == "created_at:desc" else {"sort": sort}
        for page in PAGES:
            marker = {"marker": marker_ids[(sort, page)]} if page != "first" else {}
            out.append(Variant(sort, page, urlencode({**params, **marker})))
    return out


def timed_get(client: httpx.Client, base_url: str, variant: Variant, creds: Credentials) -> float:
    url = f"{base_url}/v1/images" + (f"?{variant.query}" if variant.query else "")
    headers = signed_headers("GET", url, creds)  # signing is not part of the timed span
    start = time.perf_counter()
    response = client.get(url, headers=headers)
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200 or len(response.json()["images"]) != 20:
        raise RuntimeError(f"{variant.sort} {variant.page}: {response.status_code} {response.text[:300]}")
    return elapsed


def _more(todo: list[Variant], deadline: float) -> bool:
    done = len(todo[0].latencies_ms)
    return done < MIN_ROUNDS or (time.perf_counter() < deadline and done < MAX_REQUESTS_PER_VARIANT)


def measure(
    base_url: str, creds: Credentials, marker_ids: dict[tuple[str, str], str], seconds: float
) -> list[Variant]:
    """Round-robin over the variants (so they share the machine's noise) for ``seconds`` each."""
    todo = variants(marker_ids)
    with httpx.Client(timeout=30.0) as client:
        for variant in todo:  # warm-up: connection, plan caches, pages in shared buffers
            for _ in range(5):
                timed_get(client, base_url, variant, creds)
        deadline = time.perf_counter() + seconds * len(todo)
        while _more(todo, deadline):
            for variant in todo:
                variant.latencies_ms.append(timed_get(client, base_url, variant, creds))
    return todo


# --------------------------------------------------------------------------- reporting


def _figures(report: Report, count: int, first: Variant, mid: Variant, deep: Variant) -> float:
    for v in (first, mid, deep):
        p90 = percentile(v.latencies_ms, 90)
        report.figure(
            f"list_{v.page}",
            images=count,
            sort=v.sort,
            median_ms=v.median_ms,
            p90_ms=p90,
            n=len(v.latencies_ms),
        )
    deep_ratio = ratio(deep.median_ms, first.median_ms)
    report.figure(
        "list_deep_over_first",
        images=count,
        sort=first.sort,
        ratio=deep_ratio,
        goal=GOAL_DEEP_OVER_FIRST,
        verdict=verdict(deep_ratio <= GOAL_DEEP_OVER_FIRST),
    )
    report.figure(
        "list_mid_over_first", images=count, sort=first.sort, ratio=ratio(mid.median_ms, first.median_ms)
    )
    return deep_ratio


def report_size(report: Report, count: int, results: list[Variant]) -> list[dict[str, Any]]:
    rows = []
    by_key = {(v.sort, v.page): v for v in results}
    for sort in SORTS:
        first, mid, deep = (by_key[(sort, page)] for page in PAGES)
        deep_ratio = _figures(report, count, first, mid, deep)
        rows.append(
            {
                "images": count,
                "sort": sort,
                "first_ms": first.median_ms,
                "mid_ms": mid.median_ms,
                "deep_ms": deep.median_ms,
                "first_p90_ms": percentile(first.latencies_ms, 90),
                "deep_p90_ms": percentile(deep.latencies_ms, 90),
                "mid/first": ratio(mid.median_ms, first.median_ms),
                "deep/first": deep_ratio,
                "n_each": len(first.latencies_ms),
            }
        )
    return rows


def report_scaling(report: Report, small: int, big: int, runs: dict[int, list[Variant]]) -> None:
    before = {(v.sort, v.page): v.median_ms for v in runs[small]}
    for v in runs[big]:
        report.figure(
            "list_growth",
            sort=v.sort,
            page=v.page,
            images=f"{small}->{big}",
            ratio=ratio(v.median_ms, before[(v.sort, v.page)]),
        )


def warn_if_first_page_grows(report: Report, small: int, big: int, runs: dict[int, list[Variant]]) -> None:
    """deep/first is only meaningful while the first page itself stays flat as the table grows."""
    before = {(v.sort, v.page): v.median_ms for v in runs[small]}
    for v in runs[big]:
        growth = ratio(v.median_ms, before[(v.sort, v.page)])
        if v.page == "first" and growth > 2:
            report.note(
                f"WARNING: the first page ({v.sort}) is {growth:.1f}x slower at {big:,} images than at "
                f"{small:,}: it scales with the table, so a low deep/first ratio there says little "
                "(see EXPLAIN of the first-page query)."
            )


# --------------------------------------------------------------------------- a page of 1,000


@dataclass
class Timed:
    """Sequential latencies of one request shape on one connection mode."""

    name: str
    url: str
    close: bool
    expect_images: int | None  # a list: the page size it must answer
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return percentile(self.latencies_ms, 50)


def _timed_once(client: httpx.Client, item: Timed, creds: Credentials) -> float:
    headers = signed_headers("GET", item.url, creds)
    if item.close:
        headers["Connection"] = "close"
    start = time.perf_counter()
    response = client.get(item.url, headers=headers)
    elapsed = (time.perf_counter() - start) * 1000
    ok = response.status_code == 200
    if ok and item.expect_images is not None:
        ok = len(response.json()["images"]) == item.expect_images
    if not ok:
        raise RuntimeError(f"{item.name}: {response.status_code} {response.text[:300]}")
    return elapsed


def measure_page_1000(base_url: str, creds: Credentials, show_id: str, seconds: float) -> list[Timed]:
    """``limit=1000`` and a single show, keep-alive and ``Connection: close``, interleaved one by one."""
    todo = []
    for close in (False, True):
        todo.append(Timed("list_1000", f"{base_url}/v1/images?limit={PAGE}", close, PAGE))
        todo.append(Timed("show", f"{base_url}/v1/images/{show_id}", close, None))
    with httpx.Client(timeout=60.0) as client:
        for item in todo:
            for _ in range(3):  # warm-up
                _timed_once(client, item, creds)
        deadline = time.perf_counter() + seconds * 2
        while len(todo[0].latencies_ms) < MIN_ROUNDS or (
            time.perf_counter() < deadline and len(todo[0].latencies_ms) < MAX_REQUESTS_PER_VARIANT
        ):
            for item in todo:
                item.latencies_ms.append(_timed_once(client, item, creds))
    return todo


def report_page_1000(report: Report, database: str, timed: list[Timed], glance: GlanceRun | None) -> None:
    by = {(t.name, t.close): t for t in timed}
    theirs = glance.get("list", 1, 1) if glance is not None else None
    for close in (False, True):
        page, show = by[("list_1000", close)], by[("show", close)]
        connection = "close" if close else "keep-alive"
        over_show = ratio(page.median_ms, show.median_ms)
        report.figure(
            "list_1000",
            database=database,
            connection=connection,
            median_ms=page.median_ms,
            p90_ms=percentile(page.latencies_ms, 90),
            show_median_ms=show.median_ms,
            n=len(page.latencies_ms),
        )
        report.figure(
            "list_1000_over_show",
            database=database,
            connection=connection,
            ratio=over_show,
            goal=GOAL_PAGE_OVER_SHOW,
            verdict=verdict(over_show <= GOAL_PAGE_OVER_SHOW),
        )
        if theirs is not None:
            x_glance = ratio(theirs.p50_ms, page.median_ms)  # sequential: latency ratio = req/s ratio
            report.figure(
                "list_1000_x_glance",
                database=database,
                connection=connection,
                glance_p50_ms=theirs.p50_ms,
                x_glance=x_glance,
                goal=GOAL_PAGE_X_GLANCE,
                verdict=verdict(x_glance >= GOAL_PAGE_X_GLANCE),
            )
    if glance is not None and theirs is None:
        report.note("the Glance output has no list figure for workers=1 conc=1")


def run_sqlite_page(report: Report, seconds: float, glance: GlanceRun | None, count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="scp-bench-list-sqlite-") as tmp:
        data_dir = Path(tmp) / "data"
        parts = build_components(Settings(data_dir=data_dir, database_url=None, blob_url=None))
        try:
            creds, ids = seed_images(parts, count)
        finally:
            parts.close()
        env = {"SCP_IMAGES_DATABASE_URL": "", "SCP_IMAGES_BLOB_URL": ""}
        with running_server(data_dir, env) as server:
            timed = measure_page_1000(server.base_url, creds, ids[len(ids) // 2], seconds)
    report_page_1000(report, "sqlite", timed, glance)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100k instead of 1M images, ~3 s per variant")
    parser.add_argument("--duration", type=float, help="seconds per variant and size (overrides --quick)")
    parser.add_argument("--big", type=int, help="the large image count (default 1,000,000; --quick 100,000)")
    parser.add_argument(
        "--glance", help=f"saved output of a glance_bench.sh run made just before (else ${ENV_VAR})"
    )
    return parser.parse_args(argv)


def run(report: Report, sizes: list[int], seconds: float, glance: GlanceRun | None) -> None:
    runs: dict[int, list[Variant]] = {}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="scp-bench-list-") as tmp, throwaway_database() as url:
        creds = prepare(url, Path(tmp) / "data")
        have = 0
        for count in sizes:
            spent = seed(url, creds.account_id, have, count)
            report.note(f"seeded {count - have:,} more images ({count:,} in all) in {spent:.1f} s")
            have = count
            marker_ids = markers(url, count)
            env = {"SCP_IMAGES_DATABASE_URL": url, "SCP_IMAGES_BLOB_URL": ""}
            with running_server(Path(tmp) / "data", env) as server:
                runs[count] = measure(server.base_url, creds, marker_ids, seconds)
                if count == sizes[0]:  # a page of 1,000 out of 10,000, as on SQLite
                    show_id = marker_ids[("created_at:desc", "mid")]
                    page = measure_page_1000(server.base_url, creds, show_id, seconds)
            if count == sizes[0]:
                report_page_1000(report, "postgresql", page, glance)
            rows += report_size(report, count, runs[count])
    report.table("GET /v1/images (limit 20): median latency (ms) of sequential signed requests", rows)
    report_scaling(report, sizes[0], sizes[-1], runs)
    warn_if_first_page_grows(report, sizes[0], sizes[-1], runs)
    for row in rows:
        ok = verdict(row["deep/first"] <= GOAL_DEEP_OVER_FIRST)
        print(
            f"  {row['images']:>9,} images  {row['sort']:<16} deep/first = {row['deep/first']:.2f} "
            f"(goal <= {GOAL_DEEP_OVER_FIRST}: {ok})"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    seconds = measurement_seconds(args.quick, args.duration)
    big = args.big or (100_000 if args.quick else 1_000_000)
    glance = load_glance(args.glance)
    report = Report("list_images", vars(args))
    report.note(
        f"PostgreSQL: {make_url(admin_url()).render_as_string(hide_password=True)}; sizes 10,000 and "
        f"{big:,}; ~{seconds:g} s per variant, variants interleaved request by request"
    )
    if glance is None:
        report.note(f"{NO_FIGURE}: no Glance ratio for the page of 1,000 (pass --glance FILE)")
    else:
        report.note(glance.describe())
        for warning in glance.warnings():
            report.note(warning)
    run_sqlite_page(report, seconds, glance, 10_000)
    run(report, [10_000, big], seconds, glance)
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
