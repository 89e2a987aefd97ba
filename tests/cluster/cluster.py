"""A cluster on one machine: a fresh PostgreSQL database, SeaweedFS as the blob store and as a granted
import source, two ``scp-images serve`` processes (no import jobs) behind nginx with the deploy/ config,
and two ``scp-images worker`` processes. Processes are the real CLI, killed with SIGKILL when told."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine

from scp_images.app import build_components
from scp_images.config import Settings
from tests.cluster.load import Source
from tests.support import postgres, seaweed
from tests.support.nginx import Nginx, nginx_binary
from tests.support.process import ServerProcess, WorkerProcess, settings_env
from tests.support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, drop_bucket, s3_client
from tests.support.stack import Key, free_port
from tests.support.tools import missing, require_qemu, require_tool, run_tool

SERVERS = 2
WORKERS = 2
# Requests/s per access key, shared by both servers: low enough that one key's hammering through two
# servers outruns it even on a slow, loaded machine; the tenants' steady load stays near it.
RATE_LIMIT = 4.0
# Short timings so that work a SIGKILL interrupted settles within the test's minutes: a dead writer's job
# is taken over after 3 s, an interrupted upload is queued again after 3 + 5 s, and the workers repair and
# sweep orphans every 10 s (the grace).
TIMINGS = {
    "import_heartbeat_seconds": 0.5,
    "import_stale_seconds": 3.0,
    "body_read_timeout_seconds": 5.0,
    "orphan_grace_seconds": 10.0,
}
# (object key, pattern, MiB of data) of the qcow2 images in the source bucket, each 64 MiB virtual; image
# names (letters, digits, - and _ only) end with the key.
# A process starting while the load runs may take long to import and connect on a loaded two-core machine.
READY_SECONDS = 180.0
SOURCES = (("small", 0x11, 1), ("medium", 0x22, 2), ("large", 0x33, 4))


def require_parts() -> str:
    """nginx's path, once every outside part is there (or the test is skipped, failed under CI)."""
    require_qemu()
    require_tool("nginx", hint="install Debian's nginx (apt-get install nginx; .ci/run does)")
    problem = postgres.reachable()
    if problem is not None:
        reason = f"PostgreSQL at {postgres.admin_url()} is not reachable ({problem})"
        missing(reason, required=postgres.required())
    binary = nginx_binary()
    assert binary is not None
    return binary


def make_sources(folder: Path) -> list[Source]:
    made = []
    for name, pattern, mib in SOURCES:
        path = folder / f"{name}.qcow2"
        run_tool("qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M")
        run_tool("qemu-io", "-c", f"write -P {pattern:#x} 0 {mib}M", str(path))
        made.append(Source(name, path.read_bytes()))
    return made


@dataclass
class Cluster:
    tmp: Path
    nginx_binary: str
    weed: seaweed.SeaweedServer
    database_url: str
    settings: Settings
    sources: list[Source]
    source_bucket: str
    blob_bucket: str
    keys: list[Key] = field(default_factory=list)
    servers: list[ServerProcess] = field(default_factory=list)
    workers: list[WorkerProcess | None] = field(default_factory=list)
    nginx: Nginx | None = None
    engine: Engine | None = None
    _worker_starts: int = 0

    @property
    def public_url(self) -> str:
        return self.settings.public_urls[0]

    @property
    def env(self) -> dict[str, str]:
        return settings_env(self.settings)

    def s3(self) -> Any:
        return s3_client(self.weed.endpoint_url)

    def new_key(self, name: str) -> Key:
        parts = build_components(self.settings)
        try:
            account = parts.accounts.create_account(name)
            record = parts.accounts.create_key(account.id, f"{name}@example.com")
            parts.source_grants.grant(account.id, self.source_bucket, "")
        finally:
            parts.close()
        return Key(record.access_key, record.secret_key, account.id, record.user_name)

    def start(self, tenants: int) -> None:
        self.engine = create_engine(self.database_url)
        self.keys = [self.new_key(f"tenant{n}") for n in range(tenants)]  # migrates the database first
        for n in range(SERVERS):
            log = self.tmp / f"server{n}.log"
            self.servers.append(ServerProcess(self.env, log, ready_seconds=READY_SECONDS))
        self.workers = [self.start_worker() for _ in range(WORKERS)]
        upstreams = [f"127.0.0.1:{server.port}" for server in self.servers]
        port = int(self.public_url.rsplit(":", 1)[1])
        self.nginx = Nginx(self.nginx_binary, upstreams, port=port)

    def start_worker(self) -> WorkerProcess:
        self._worker_starts += 1
        log = self.tmp / f"worker{self._worker_starts}.log"
        return WorkerProcess(self.env, log, ready_seconds=READY_SECONDS)

    def kill_server(self, n: int) -> None:
        self.servers[n].kill()

    def restart_server(self, n: int) -> None:
        """On its old port, the one nginx's upstream names."""
        port = self.servers[n].port
        log = self.tmp / f"server{n}.log"
        self.servers[n] = ServerProcess(self.env, log, port=port, ready_seconds=READY_SECONDS)

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for process in [*self.servers, *self.workers]:
            if process is not None:
                with contextlib.suppress(Exception):
                    process.stop()
        if self.engine is not None:
            self.engine.dispose()
        s3 = self.s3()
        for bucket in (self.source_bucket, self.blob_bucket):
            with contextlib.suppress(Exception):
                drop_bucket(s3, bucket)
        postgres.drop_database(self.database_url)
        self.weed.stop()


def build_cluster(tmp: Path, nginx: str) -> Cluster:
    """Everything but the processes: the database, SeaweedFS with its two buckets, the sources, settings."""
    try:
        weed = seaweed.start_seaweed()
    except seaweed.SeaweedUnavailable as exc:
        missing(f"SeaweedFS is unavailable ({exc})", required=seaweed.required())
    database_url = postgres.create_database()  # fresh: the first process to start migrates it
    suffix = uuid.uuid4().hex[:10]
    source_bucket, blob_bucket = f"source-{suffix}", f"blobs-{suffix}"
    s3 = s3_client(weed.endpoint_url)
    sources = make_sources(tmp)
    for bucket in (source_bucket, blob_bucket):
        s3.create_bucket(Bucket=bucket)
    for source in sources:
        s3.put_object(Bucket=source_bucket, Key=source.name, Body=source.data)
    settings = Settings(
        data_dir=tmp / "data",
        database_url=database_url,
        blob_url=f"s3://{blob_bucket}/images",
        s3_endpoint_url=weed.endpoint_url,
        s3_access_key_id=ACCESS_KEY_ID,
        s3_secret_access_key=SECRET_ACCESS_KEY,
        s3_region=REGION,
        public_urls=[f"http://127.0.0.1:{free_port()}"],  # nginx's: clients sign it, servers verify it
        run_import_jobs=False,
        replay_protection=True,
        rate_limit=RATE_LIMIT,
        **TIMINGS,
    )
    return Cluster(tmp, nginx, weed, database_url, settings, sources, source_bucket, blob_bucket)
