"""In-process request loops: Show, List of 1,000 and ``GET /`` through the real ASGI app, no sockets.

    python bench/profile_requests.py [--database-url URL] [--requests N] [--what show,root,list]
    python bench/profile_requests.py --cprofile show        # cProfile of N shows, top functions
    python bench/profile_requests.py --what show,v2show     # the SCP show beside the OpenStack edge's
    python bench/profile_requests.py --what floor,show      # a bare ASGI app sending the Show's body
    valgrind --tool=callgrind python bench/profile_requests.py --requests N --what show

What it measures is the server's own work per request (routing, middleware, signature check, query,
encoding) without uvicorn, the kernel or a load generator, so two versions of the code can be compared
back to back on a loaded machine: each figure is the CPU time of this process per request, the minimum
over ``--rounds`` rounds of ``--requests`` calls, and rounds of the different paths are
interleaved. The app is the one ``create_app`` builds; ``--database-url`` (PostgreSQL) seeds a
throw-away database and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import httpx
from _common import Credentials, run_main, signed_headers
from _seed import seed_images, throwaway_database

from scp_images.app import build_components, create_app, server_metrics
from scp_images.config import Settings

BASE = "http://127.0.0.1:8080"
LIST_LIMIT = 1000


class AsgiCall:
    """One prepared GET, replayed against the app with a fresh scope each time."""

    def __init__(self, app: Any, path: str, headers: dict[str, str]) -> None:
        self.app = app
        path, _, query = path.partition("?")
        self.path = path
        self.query = query.encode()
        self.headers = [(b"host", b"127.0.0.1:8080")] + [
            (k.lower().encode(), v.encode()) for k, v in headers.items()
        ]
        self.status = 0
        self.body = b""

    async def __call__(self) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": self.query,
            "root_path": "",
            "headers": self.headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8080),
        }
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        self.body = b"".join(chunks)


def floor_app(body: bytes) -> Any:
    """The floor: a bare ASGI app answering every request with ``body`` (what bench/show_image.py's
    bare app does over a socket)."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def signed(creds: Credentials, path: str) -> dict[str, str]:
    return signed_headers("GET", BASE + path, creds)


def calls(app: Any, creds: Credentials, ids: list[str], token: str) -> dict[str, AsgiCall]:
    show = f"/v1/images/{ids[len(ids) // 2]}"
    listing = f"/v1/images?limit={LIST_LIMIT}"
    return {
        "root": AsgiCall(app, "/", {}),
        "show": AsgiCall(app, show, signed(creds, show)),
        "list": AsgiCall(app, listing, signed(creds, listing)),
        "v2show": AsgiCall(app, f"/image/v2/images/{ids[len(ids) // 2]}", {"X-Auth-Token": token}),
    }


async def _loop(call: AsgiCall, n: int) -> float:
    # CPU time of this process, not wall time: on a loaded machine waiting for a core is most of the
    # wall time, and it is not the code's. (With PostgreSQL the database's own time is not counted.)
    started = time.process_time()
    for _ in range(n):
        await call()
    return (time.process_time() - started) / n


def check(call: AsgiCall, name: str) -> None:
    asyncio.run(call())
    if call.status != 200:
        raise SystemExit(f"{name}: {call.status} {call.body[:300]!r}")


def _per_path_requests(name: str, n: int) -> int:
    return max(1, n // 50) if name == "list" else n  # a list of 1,000 costs about 50 shows


def time_paths(chosen: dict[str, AsgiCall], requests: int, rounds: int) -> dict[str, float]:
    best = dict.fromkeys(chosen, float("inf"))
    for _ in range(rounds):
        for name, call in chosen.items():
            best[name] = min(best[name], asyncio.run(_loop(call, _per_path_requests(name, requests))))
    return best


def profile_path(call: AsgiCall, name: str, requests: int, top: int, out: Path | None) -> None:
    profiler = cProfile.Profile()
    n = _per_path_requests(name, requests)
    profiler.enable()
    asyncio.run(_loop(call, n))
    profiler.disable()
    if out is not None:
        profiler.dump_stats(out)
        print(f"wrote {out}")
    print(f"cProfile of {n} x {name}; times are per run, tottime sorted")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


async def _token(app: Any, creds: Credentials) -> str:
    """A Keystone token for the v2 show, from the app's own token endpoint."""
    credential = {"id": creds.access_key, "secret": creds.secret_key}
    body = {
        "auth": {"identity": {"methods": ["application_credential"], "application_credential": credential}}
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        answer = await client.post("/identity/v3/auth/tokens", json=body)
    if answer.status_code != 201:
        raise SystemExit(f"token: {answer.status_code} {answer.text[:300]}")
    return answer.headers["X-Subject-Token"]


@contextmanager
def application(database_url: str | None, images: int) -> Iterator[tuple[Any, Credentials, list[str], str]]:
    with tempfile.TemporaryDirectory(prefix="scp-bench-prof-") as tmp:
        db = throwaway_database() if database_url else nullcontext(None)
        with db as url:
            settings = Settings(
                data_dir=Path(tmp) / "data", database_url=url, blob_url=None, run_import_jobs=False
            )
            parts = build_components(settings, metrics=server_metrics())
            try:
                creds, ids = seed_images(parts, images)
                app = create_app(settings, components=parts)
                yield app, creds, ids, asyncio.run(_token(app, creds))
            finally:
                parts.close()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", action="store_true", help="PostgreSQL (see _seed.admin_url)")
    parser.add_argument("--images", type=int, default=2000, help="images to seed (>= 1000 for the list)")
    parser.add_argument("--requests", type=int, default=2000, help="shows per round (lists: 1/50 of it)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--what", default="root,show,list", help="comma-separated: root, show, list, v2show, floor"
    )
    parser.add_argument(
        "--cprofile", help="profile this one path (root, show, list, v2show) instead of timing"
    )
    parser.add_argument("--top", type=int, default=30, help="functions to print with --cprofile")
    parser.add_argument("--out", type=Path, help="with --cprofile: also dump the stats to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    with application("pg" if args.database_url else None, args.images) as (app, creds, ids, token):
        prepared = calls(app, creds, ids, token)
        for name, call in prepared.items():
            check(call, name)
        prepared["floor"] = AsgiCall(floor_app(prepared["show"].body), prepared["show"].path, {})
        if args.cprofile:
            profile_path(prepared[args.cprofile], args.cprofile, args.requests, args.top, args.out)
            return 0
        chosen = {name: prepared[name] for name in args.what.split(",")}
        best = time_paths(chosen, args.requests, args.rounds)
        for name, seconds in best.items():
            print(f"{name:6} {seconds * 1e6:9.1f} us/request CPU (min of {args.rounds} rounds)")
        report_ratios(best)
    return 0


def report_ratios(best: dict[str, float]) -> None:
    show, root, listing, floor = (best.get(k) for k in ("show", "root", "list", "floor"))
    if show and floor:
        print(f"show share of the floor (floor time / show time): {floor / show:.2f}")
    if show and root:
        print(f"show share of root (root time / show time): {root / show:.2f}")
    if show and listing:
        print(f"list-1000 / show: {listing / show:.1f}")


if __name__ == "__main__":
    sys.exit(run_main(main))
