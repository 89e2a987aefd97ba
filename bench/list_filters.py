"""List filters at scale: a v2 property filter's first vs deep page on PostgreSQL with 1M images.

    python bench/list_filters.py [--quick] [--duration S] [--images N]

Creates a throw-away database on the server named by ``SCP_IMAGES_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``), migrates it through the application, and
loads 1,000,000 images (``--quick``: 100,000) straight into the table with one
``INSERT ... SELECT generate_series`` per 100k rows (not through the API), then ``ANALYZE``. Two
properties are each set on 1% of the images:

- ``build=nightly`` on every 100th image (spread over the whole order), the figure's case;
- ``lane=old`` on the oldest 1% (all at the far end of the default newest-first order), for context:
  a planner that walks the creation-time index expecting an even spread reads 99% of the table.

Then ``scp-images serve`` answers sequential ``GET /image/v2/images?<property>=<value>`` requests
(Glance's default page of 25, newest first, with an ``X-Auth-Token``): the first page, and a deep page
whose marker is the filtered image 25 rows from the end of the filtered order. Variants are interleaved
request by request so they share the machine's noise; the figure is deep/first of the medians (goal
<= 1.5). ``EXPLAIN (ANALYZE, BUFFERS)`` of the statements the store runs for both pages is printed, so
the index use shows. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
from _common import Credentials, Report, percentile, ratio, run_main, running_server, verdict
from _seed import libpq, throwaway_database
from list_images import prepare
from sqlalchemy import create_engine, event

from scp_images.domain.access import list_scope
from scp_images.domain.listing import ListQuery
from scp_images.store.sql import images as image_store

SEED_BATCH = 100_000
PAGE = 25  # Glance's default page
GOAL_DEEP_OVER_FIRST = 1.5
MIN_ROUNDS = 5
MAX_ROUNDS = 3000
FILTERS = {"spread": ("build", "nightly"), "clustered": ("lane", "old")}

_INSERT = """
INSERT INTO images (id, name, owner, status, visibility, protected, os_hidden, container_format, disk_format,
                    min_disk, min_ram, created_at, updated_at, checksum, os_distro, os_hash_algo,
                    os_hash_value, size, virtual_size, scp_image_type, scp_os_version, tags, properties)
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
       2147483648 + g, 21474836480, 'custom', '22.04', '[]'::json,
       json_strip_nulls(json_build_object(
           'os_type', 'linux',
           'hw_disk_bus', (ARRAY['virtio', 'scsi'])[1 + g %% 2],
           'build', CASE WHEN g %% 100 = 0 THEN 'nightly' END,
           'lane', CASE WHEN g <= %(clustered)s THEN 'old' END))
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
"""

# The filtered image DEEP_OFFSET rows before the end of the default order (newest first).
_DEEP_MARKER = """
SELECT id FROM images WHERE properties::jsonb @> %s::jsonb
ORDER BY created_at ASC, id ASC OFFSET %s LIMIT 1
"""


def seed(url: str, owner: str, count: int) -> float:
    started = time.perf_counter()
    other = secrets.token_hex(16)
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        for first in range(1, count + 1, SEED_BATCH):
            last = min(first + SEED_BATCH - 1, count)
            values = {"first": first, "last": last, "owner": owner, "other": other, "clustered": count // 100}
            conn.execute(_INSERT, values)
            print(f"  loaded {last:,} / {count:,} images", flush=True)
        conn.execute("VACUUM ANALYZE images")
    return time.perf_counter() - started


def deep_markers(url: str) -> dict[str, str]:
    with psycopg.connect(libpq(url)) as conn:
        return {
            case: conn.execute(_DEEP_MARKER, (f'{{"{key}": "{value}"}}', PAGE)).fetchone()[0]  # type: ignore[index]
            for case, (key, value) in FILTERS.items()
        }


# --------------------------------------------------------------------------- EXPLAIN of the store's own SQL


@contextmanager
def captured_statements(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def explain(url: str, account_id: str, markers: dict[str, str]) -> dict[str, str]:
    """The plan PostgreSQL runs for each page: the store builds the statement, EXPLAIN ANALYZE runs it."""
    engine = create_engine(url)
    plans = {}
    try:
        with engine.connect() as conn:
            for case, (key, value) in FILTERS.items():
                for page in ("first", "deep"):
                    marker = image_store.get_image(conn, markers[case]) if page == "deep" else None
                    query = ListQuery(properties={key: value}, limit=PAGE)
                    with captured_statements(engine) as seen:
                        image_store.list_images(conn, list_scope(account_id, None), query, marker)
                    # Every statement of the page: the bounded walk, and the GIN fallback when it runs.
                    texts = []
                    for statement, parameters in seen:
                        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters)
                        texts.append("\n".join(row[0] for row in cursor.fetchall()))
                    plans[f"{case} {page}"] = "\n-- then:\n".join(texts)
    finally:
        engine.dispose()
    return plans


# --------------------------------------------------------------------------- timing through the server


@dataclass
class Variant:
    case: str
    page: str
    query: str
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return percentile(self.latencies_ms, 50)


def token(client: httpx.Client, base_url: str, creds: Credentials) -> str:
    credential = {"id": creds.access_key, "secret": creds.secret_key}
    body = {
        "auth": {"identity": {"methods": ["application_credential"], "application_credential": credential}}
    }
    response = client.post(f"{base_url}/identity/v3/auth/tokens", json=body)
    response.raise_for_status()
    return str(response.headers["X-Subject-Token"])


def timed_get(client: httpx.Client, base_url: str, variant: Variant, headers: dict[str, str]) -> float:
    start = time.perf_counter()
    response = client.get(f"{base_url}/image/v2/images?{variant.query}", headers=headers)
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200 or len(response.json()["images"]) != PAGE:
        raise RuntimeError(f"{variant.case} {variant.page}: {response.status_code} {response.text[:300]}")
    return elapsed


def measure(base_url: str, creds: Credentials, markers: dict[str, str], seconds: float) -> list[Variant]:
    todo = []
    for case, (key, value) in FILTERS.items():
        todo.append(Variant(case, "first", urlencode({key: value})))
        todo.append(Variant(case, "deep", urlencode({key: value, "marker": markers[case]})))
    with httpx.Client(timeout=60.0) as client:
        headers = {"X-Auth-Token": token(client, base_url, creds)}
        for variant in todo:  # warm-up: connection, plan caches, pages in shared buffers
            for _ in range(3):
                timed_get(client, base_url, variant, headers)
        deadline = time.perf_counter() + seconds * len(todo)
        while len(todo[0].latencies_ms) < MIN_ROUNDS or (
            time.perf_counter() < deadline and len(todo[0].latencies_ms) < MAX_ROUNDS
        ):
            for variant in todo:
                variant.latencies_ms.append(timed_get(client, base_url, variant, headers))
    return todo


def report(out: Report, count: int, results: list[Variant]) -> None:
    rows = []
    by = {(v.case, v.page): v for v in results}
    for case in FILTERS:
        first, deep = by[(case, "first")], by[(case, "deep")]
        deep_over_first = ratio(deep.median_ms, first.median_ms)
        rows.append(
            {
                "images": count,
                "property": case,
                "first_ms": first.median_ms,
                "deep_ms": deep.median_ms,
                "first_p90_ms": percentile(first.latencies_ms, 90),
                "deep_p90_ms": percentile(deep.latencies_ms, 90),
                "deep/first": deep_over_first,
                "n_each": len(first.latencies_ms),
            }
        )
        figure: dict[str, Any] = {"images": count, "property": case, "ratio": deep_over_first}
        if case == "spread":
            ok = deep_over_first <= GOAL_DEEP_OVER_FIRST
            figure.update(goal=GOAL_DEEP_OVER_FIRST, verdict=verdict(ok))
        out.figure("list_filter_deep_over_first", **figure)
    out.table(f"GET /image/v2/images?<property>=<value> (limit {PAGE}): median ms, sequential", rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100k images, ~3 s per variant")
    parser.add_argument("--duration", type=float, help="seconds per variant")
    parser.add_argument("--images", type=int, help="how many images (default 1,000,000; --quick 100,000)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    count = args.images or (100_000 if args.quick else 1_000_000)
    seconds = args.duration or (3.0 if args.quick else 10.0)
    out = Report("list_filters", vars(args))
    with tempfile.TemporaryDirectory(prefix="scp-bench-filters-") as tmp, throwaway_database() as url:
        creds = prepare(url, Path(tmp) / "data")
        out.note(
            f"loaded {count:,} images in {seed(url, creds.account_id, count):.1f} s (then VACUUM ANALYZE)"
        )
        markers = deep_markers(url)
        for name, plan in explain(url, creds.account_id, markers).items():
            out.note(f"EXPLAIN ({name} page):\n{plan}")
        env = {
            "SCP_IMAGES_DATABASE_URL": url,
            "SCP_IMAGES_BLOB_URL": "",
            "SCP_IMAGES_TOKEN_SECRET": secrets.token_hex(32),
        }
        with running_server(Path(tmp) / "data", env) as server:
            results = measure(server.base_url, creds, markers, seconds)
        report(out, count, results)
    out.write()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
