"""Closed-loop HTTP load at a fixed concurrency: ``wrk`` when installed, else asyncio + httpx.

The caller hands over a list of ready requests (path + headers, for instance pre-signed SCP
requests for different images); the generator rotates over them for a bounded duration.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
from _common import percentile

_WRK_MARK = "WRKJSON "

_WRK_LUA = """
local reqs = {}
local n = 0
local i = 0

function init(args)
  for _, r in ipairs(REQUESTS) do
    n = n + 1
    reqs[n] = wrk.format("GET", r[1], r[2])
  end
end

function request()
  i = i % n + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,' ..
    '"max_us":%.0f,"mean_us":%.1f,"err_connect":%.0f,"err_read":%.0f,"err_write":%.0f,' ..
    '"err_status":%.0f,"err_timeout":%.0f}\\n',
    "WRKJSON ", summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def available_generator(preferred: str = "auto") -> str:
    if preferred == "python":
        return "python"
    if shutil.which("wrk"):
        return "wrk"
    if preferred == "wrk":
        raise SystemExit("wrk was requested but is not installed")
    return "python"


def run_load(
    generator: str,
    base_url: str,
    requests: list[Request],
    concurrency: int,
    seconds: float,
    *,
    close: bool = False,
) -> LoadResult:
    """``close``: every request says ``Connection: close`` (a new connection per request, as with
    Glance's uWSGI, which closes every connection, and many hypervisor fetchers); else keep-alive."""
    if close:
        requests = [Request(r.path, {**r.headers, "Connection": "close"}) for r in requests]
    if generator == "wrk":
        return _run_wrk(base_url, requests, concurrency, seconds)
    return asyncio.run(_run_python(base_url, requests, concurrency, seconds))


# --------------------------------------------------------------------------- wrk


def _lua_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def _lua_requests(requests: list[Request]) -> str:
    lines = ["REQUESTS = {"]
    for req in requests:
        headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in req.headers.items())
        lines.append(f"  {{{_lua_string(req.path)}, {{{headers}}}}},")
    lines.append("}")
    return "\n".join(lines)


def _run_wrk(base_url: str, requests: list[Request], concurrency: int, seconds: float) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="scp-bench-wrk-") as tmp:
        script = Path(tmp) / "requests.lua"
        script.write_text(_lua_requests(requests) + _WRK_LUA)
        duration = max(1, round(seconds))
        cmd = [
            "wrk",
            f"-t{1 if concurrency < 2 else 2}",  # as glance_bench.sh drives Glance
            f"-c{concurrency}",
            f"-d{duration}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base_url,
        ]
        # subprocess.run kills wrk if we are interrupted.
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith(_WRK_MARK)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line[len(_WRK_MARK) :])
    errors = sum(int(data[k]) for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
    return LoadResult(
        concurrency,
        int(data["requests"]),
        data["duration_us"] / 1e6,
        data["p50_us"] / 1000,
        data["p90_us"] / 1000,
        data["p99_us"] / 1000,
        errors,
    )


# --------------------------------------------------------------------------- asyncio + httpx fallback


@dataclass
class _Shared:
    requests: list[Request]
    deadline: float
    latencies: list[float]
    errors: int = 0
    next_index: int = 0

    def take(self) -> Request:
        req = self.requests[self.next_index % len(self.requests)]
        self.next_index += 1
        return req


async def _worker(client: httpx.AsyncClient, shared: _Shared) -> None:
    while time.perf_counter() < shared.deadline:
        req = shared.take()
        start = time.perf_counter()
        try:
            response = await client.get(req.path, headers=req.headers)
            ok = response.status_code < 400
        except httpx.HTTPError:
            ok = False
        shared.latencies.append(time.perf_counter() - start)
        shared.errors += 0 if ok else 1


async def _run_python(base_url: str, requests: list[Request], concurrency: int, seconds: float) -> LoadResult:
    # One client (one keep-alive connection) per worker: a shared httpx pool serialises on its lock
    # and measures itself at high concurrency. Clients are built (SSL context and all) before the clock.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    tls = ssl.create_default_context()  # built once: loading CA certificates per client is slow
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10.0, verify=tls)
            )
            for _ in range(concurrency)
        ]
        started = time.perf_counter()
        shared = _Shared(requests, started + seconds, [])
        await asyncio.gather(*(_worker(client, shared) for client in clients))
        elapsed = time.perf_counter() - started
    ms = [x * 1000 for x in shared.latencies]
    return LoadResult(
        concurrency,
        len(ms),
        elapsed,
        percentile(ms, 50),
        percentile(ms, 90),
        percentile(ms, 99),
        shared.errors,
    )
