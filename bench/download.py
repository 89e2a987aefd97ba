"""Downloads and boot storms with curl (a C client, as hypervisors' fetchers are), over the limit of the same
machine in the same run: nginx serving the same stored bytes with sendfile.

    python bench/download.py [--quick] [--size-mib N] [--workers N|auto] [--clients 16] [--no-s3]

Makes a qcow2 of random data (default 1 GiB, ``--quick`` 256 MiB) and imports it with ``scp-images admin
image import``, then measures one download and ``--clients`` concurrent downloads of that one image
(aggregate MiB/s: all bytes over the wall time from the first start to the last end):

* filesystem store: ``scp-images serve --workers N`` against nginx (sendfile) serving the stored blob file;
* SeaweedFS (S3 blob store, ``tests/support/seaweed.py``): the server streaming from the object store and
  with ``SCP_IMAGES_DOWNLOAD_REDIRECT=1`` (curl -L follows the 307 to the presigned URL), against nginx
  serving the same bytes and against SeaweedFS's own GET of the object (a presigned URL).

Each figure is the best of ``--rounds`` alternating passes; every request is signed afresh. All servers
listen on 127.0.0.1 (``--port-base`` picks their ports) and are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    HOST,
    Credentials,
    MiB,
    Report,
    Server,
    free_port,
    ratio,
    run_main,
    scp_images_command,
    signed_headers,
    stop_process,
    verdict,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support.seaweed, for SeaweedFS

GOAL_RATIO = 0.8
_NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 5;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ }}
    default_type application/octet-stream;
    server {{
        listen {host}:{port};
        location / {{ root {root}; }}
    }}
}}
"""


def mib_s(size: int, seconds: float) -> float:
    return size / MiB / seconds if seconds else float("nan")


# --------------------------------------------------------------------------- ports and processes


class Ports:
    """Ports from ``--port-base`` upwards (so a run stays in a range of its own), else any free ones."""

    def __init__(self, base: int | None) -> None:
        self._next = base

    def take(self) -> int:
        if self._next is None:
            return free_port()
        port, self._next = self._next, self._next + 1
        return port


def _unprivileged() -> list[str]:
    """nginx refuses nothing as root but would run its workers as ``nobody``; run it all as nobody."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RuntimeError("running as root needs setpriv (util-linux) to start nginx unprivileged")
    return [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def _readable_by_all(path: Path) -> None:
    """nginx (as nobody) must reach the served file: every directory above it searchable, it readable."""
    path.chmod(path.stat().st_mode | 0o444)
    for parent in path.parents:
        if parent == Path(tempfile.gettempdir()) or parent == parent.parent:
            break
        parent.chmod(parent.stat().st_mode | 0o111)


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:.0f} s")


_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) "; fields from state on


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU of ``root`` and its descendants (Linux /proc): a server's cost per byte, which
    the machine's other load does not change the way it changes throughput."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    family, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return sum(ticks.get(pid, 0) for pid in family) / _TICK


@contextmanager
def nginx(workdir: Path, served: Path, port: int, workers: str) -> Iterator[tuple[str, int]]:
    """nginx in the foreground with its own prefix, serving ``served`` at ``/<name>``; yields the URL
    and the master's pid."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    prefix = workdir / f"nginx-{port}"
    prefix.mkdir()
    _readable_by_all(served)
    conf = prefix / "nginx.conf"
    conf.write_text(
        _NGINX_CONF.format(workers=workers, prefix=prefix, host=HOST, port=port, root=served.parent)
    )
    if os.geteuid() == 0:
        shutil.chown(prefix, "nobody", "nogroup")
        prefix.parent.chmod(prefix.parent.stat().st_mode | 0o111)
    command = [*_unprivileged(), binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait_port(port, proc, f"nginx ({(prefix / 'error.log')})")
        yield f"http://{HOST}:{port}/{served.name}", proc.pid
    finally:
        stop_process(proc)


@contextmanager
def scp_server(data_dir: Path, port: int, workers: str | None, env: dict[str, str]) -> Iterator[Server]:
    server = Server(data_dir, env, port, args=["--workers", workers] if workers else [])
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _pids(server: Server) -> tuple[int, ...]:
    assert server.proc is not None
    return (server.proc.pid,)


def serve_has_workers() -> bool:
    done = subprocess.run(
        [*scp_images_command(), "serve", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    return "--workers" in done.stdout


# --------------------------------------------------------------------------- curl


@dataclass(frozen=True)
class Target:
    """What curl fetches: a URL, and how to sign it (None: unsigned, e.g. nginx or a presigned URL);
    ``pids``: the serving processes (with their children) whose CPU time the bytes cost."""

    url: str
    creds: Credentials | None = None
    follow: bool = False
    pids: tuple[int, ...] = ()

    def command(self) -> list[str]:
        cmd = ["curl", "--silent", "--show-error", "--output", "/dev/null"]
        cmd += ["--write-out", "%{http_code} %{size_download}"]
        if self.follow:
            cmd.append("--location")
        if self.creds is not None:
            for name, value in signed_headers("GET", self.url, self.creds).items():
                cmd += ["--header", f"{name}: {value}"]
        return [*cmd, self.url]


def storm(target: Target, clients: int, size: int) -> tuple[float, float]:
    """``clients`` curls at once: (aggregate MiB/s over the wall time of all of them, server CPU seconds
    per GiB sent)."""
    commands = [target.command() for _ in range(clients)]  # signed before the clock starts
    cpu = sum(tree_cpu_seconds(pid) for pid in target.pids)
    start = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in commands]
    outputs = [proc.communicate(timeout=1800) for proc in procs]
    seconds = time.perf_counter() - start
    cpu = sum(tree_cpu_seconds(pid) for pid in target.pids) - cpu
    for proc, (out, err) in zip(procs, outputs, strict=True):
        status, got = out.decode().split() if out else ("?", "0")
        if proc.returncode != 0 or status not in ("200", "206") or int(got) != size:
            raise RuntimeError(
                f"curl {target.url}: exit {proc.returncode}, HTTP {status}, {got} bytes: {err!r}"
            )
    return mib_s(size * clients, seconds), cpu / (size * clients / (1 << 30))


# --------------------------------------------------------------------------- the image and the stores


def make_qcow2(workdir: Path, size: int) -> Path:
    raw, image = workdir / "source.raw", workdir / "source.qcow2"
    with open(raw, "wb") as out:
        for _ in range(size // MiB):
            out.write(os.urandom(MiB))
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(image)], check=True)
    raw.unlink()
    return image


def admin(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [*scp_images_command(), "admin", *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    if done.returncode != 0:
        raise RuntimeError(f"admin {' '.join(args)} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def prepare(image: Path, env: dict[str, str]) -> tuple[Credentials, str]:
    """An account, a key and the image imported into the store that ``env`` names."""
    account = admin(env, "account", "create", "--name", "bench")
    key = admin(env, "key", "create", "--account", account["id"], "--user", "bench@example.com")
    args = ["--file", str(image), "--name", "bench-download", "--os-distro", "ubuntu"]
    imported = admin(env, "image", "import", *args, "--owner", account["id"], "--visibility", "public")
    return Credentials(key["access_key"], key["secret_key"], account["id"]), imported["id"]


def store_env(data_dir: Path, **more: str) -> dict[str, str]:
    return {"SCP_IMAGES_DATA_DIR": str(data_dir), "SCP_IMAGES_DATABASE_URL": "", **more}


@contextmanager
def seaweed() -> Iterator[Any]:
    from tests.support import seaweed as weed

    server = weed.start_seaweed()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- measuring


@dataclass
class Case:
    store: str
    server: str
    target: Callable[[], Target]
    limit: str  # the row this one is compared with


def measure(cases: Sequence[Case], size: int, clients: int, rounds: int) -> list[dict[str, Any]]:
    best: dict[tuple[str, str, int], float] = {}
    cpu: dict[tuple[str, str, int], float] = {}
    for _ in range(rounds):
        for case in cases:  # alternating, so a burst of foreign load hits every case alike
            for count in (1, clients):
                key = (case.store, case.server, count)
                rate, cost = storm(case.target(), count, size)
                best[key] = max(best.get(key, 0.0), rate)
                cpu[key] = min(cpu.get(key, float("inf")), cost)
    rows = []
    for case in cases:
        for count in (1, clients):
            rate = best[(case.store, case.server, count)]
            limit = best[(case.store, case.limit, count)]
            rows.append(
                {
                    "store": case.store,
                    "server": case.server,
                    "clients": count,
                    "MiB/s": rate,
                    "limit": case.limit,
                    "x limit": ratio(rate, limit),
                    "cpu s/GiB": cpu[(case.store, case.server, count)],
                }
            )
    return rows


def filesystem_cases(
    stack: ExitStack, workdir: Path, image: Path, ports: Ports, workers: str | None
) -> tuple[list[Case], int]:
    data_dir = workdir / "fs-data"
    env = store_env(data_dir)
    creds, image_id = prepare(image, env)
    (blob,) = sorted((data_dir / "blobs" / "images" / image_id).glob("*"))
    size = blob.stat().st_size
    blob.read_bytes()  # warm the page cache; dropping it needs root, so all figures are warm-cache
    nginx_url, nginx_pid = stack.enter_context(nginx(workdir, blob, ports.take(), "auto"))
    server = stack.enter_context(scp_server(data_dir, ports.take(), workers, env))
    url = f"{server.base_url}/v2/images/{image_id}/file"
    cases = [
        Case("file", "nginx sendfile", lambda: Target(nginx_url, pids=(nginx_pid,)), "nginx sendfile"),
        Case("file", "scp-images", lambda: Target(url, creds, pids=_pids(server)), "nginx sendfile"),
    ]
    return cases, size


def s3_cases(stack: ExitStack, workdir: Path, image: Path, ports: Ports, workers: str | None) -> list[Case]:
    from tests.support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, s3_client

    weed = stack.enter_context(seaweed())
    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    client = s3_client(weed.endpoint_url)
    client.create_bucket(Bucket=bucket)
    s3 = {
        "SCP_IMAGES_BLOB_URL": f"s3://{bucket}/images",
        "SCP_IMAGES_S3_ENDPOINT_URL": weed.endpoint_url,
        "SCP_IMAGES_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "SCP_IMAGES_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "SCP_IMAGES_S3_REGION": REGION,
    }
    data_dir = workdir / "s3-data"
    creds, image_id = prepare(image, store_env(data_dir, **s3))
    (key,) = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"] if image_id in o["Key"]]
    nginx_url, nginx_pid = stack.enter_context(nginx(workdir, image, ports.take(), "auto"))
    streamed = stack.enter_context(scp_server(data_dir, ports.take(), workers, store_env(data_dir, **s3)))
    redirect_env = store_env(data_dir, **s3, SCP_IMAGES_DOWNLOAD_REDIRECT="1")
    redirected = stack.enter_context(scp_server(data_dir, ports.take(), workers, redirect_env))
    path = f"/v2/images/{image_id}/file"

    weed_pid = (weed.process.pid,)

    def direct() -> Target:
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600
        )
        return Target(url, pids=weed_pid)

    def via(server: Server, follow: bool) -> Callable[[], Target]:
        return lambda: Target(server.base_url + path, creds, follow=follow, pids=_pids(server) + weed_pid)

    limit = "nginx sendfile"
    return [
        Case("s3", limit, lambda: Target(nginx_url, pids=(nginx_pid,)), limit),
        Case("s3", "seaweedfs GET", direct, limit),
        Case("s3", "scp-images stream", via(streamed, False), limit),
        Case("s3", "scp-images 307", via(redirected, True), limit),
    ]


def run(report: Report, args: argparse.Namespace, size: int, workdir: Path) -> None:
    workdir.chmod(0o755)  # nginx runs as nobody and must reach the files
    ports = Ports(args.port_base)
    workers = args.workers
    if workers not in (None, "1") and not serve_has_workers():
        raise SystemExit("this scp-images serve has no --workers option yet; run with --workers 1")
    print(f"making a {size // MiB} MiB qcow2 of random data in {workdir} ...", flush=True)
    image = make_qcow2(workdir, size)
    with ExitStack() as stack:
        cases, stored = filesystem_cases(stack, workdir, image, ports, workers)
        rows = measure(cases, stored, args.clients, args.rounds)
    if not args.no_s3:
        with ExitStack() as stack:
            rows += measure(
                s3_cases(stack, workdir, image, ports, workers), stored, args.clients, args.rounds
            )
    report.table(f"curl downloads of one {stored / MiB:.0f} MiB image (warm page cache)", rows)
    for row in rows:
        if row["server"].startswith("scp-images"):
            name = f"download_{row['store']}_{row['server'].split()[-1]}_{row['clients']}"
            ok = row["x limit"] >= GOAL_RATIO
            report.figure(
                name, mib_s=row["MiB/s"], ratio=row["x limit"], goal=GOAL_RATIO, verdict=verdict(ok)
            )
    line = {"benchmark": "download", "bytes": stored, "workers": workers or "serve's default", "rows": rows}
    print("JSON " + json.dumps(line, default=float), flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a 256 MiB image instead of 1 GiB, 1 round")
    parser.add_argument("--size-mib", type=int, help="raw image size in MiB (default 1024; --quick 256)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent downloads in the storm")
    parser.add_argument(
        "--rounds", type=int, help="alternating passes; the best counts (default 3; --quick 1)"
    )
    parser.add_argument("--workers", help="scp-images serve --workers (N or auto; default: serve's own)")
    parser.add_argument("--no-s3", action="store_true", help="only the filesystem store (no SeaweedFS)")
    parser.add_argument("--port-base", type=int, help="listen on consecutive ports from here (default: any)")
    parser.add_argument("--workdir", type=Path, help="where the temporary files go (default: system temp)")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    size = (args.size_mib or (256 if args.quick else 1024)) * MiB
    report = Report("download", {k: str(v) for k, v in vars(args).items()})
    with tempfile.TemporaryDirectory(prefix="scp-bench-download-", dir=args.workdir) as tmp:
        run(report, args, size, Path(tmp))
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
