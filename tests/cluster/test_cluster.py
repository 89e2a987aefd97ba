"""The service as deployed: PostgreSQL, SeaweedFS, two servers behind nginx (deploy/ config), two workers.

For at least a minute several accounts create, import, upload, share, accept and delete at once through
nginx, while one worker and one server are SIGKILLed and restarted. Once in-flight work has settled,
every image is ``active`` with its source's md5 and sha512, ``killed`` with a reason, or ``queued`` (an
interrupted upload); nothing is left ``importing``; every stored object is owned by the ownership rule
(services/upkeep/recovery.py) and nothing the service acknowledged is lost. Then a signature accepted by one
server is refused by the other, and one key hammering both servers gets at most 1.2x its rate limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from scp_images.app import build_components
from scp_images.signing import sign_request
from scp_images.store.sql.tables import image_imports, image_members, images
from tests.cluster.cluster import RATE_LIMIT, Cluster, build_cluster, require_parts
from tests.cluster.load import Ledger, Source, Tenant, hammer, source_of
from tests.support.stack import Key
from tests.support.tools import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LOAD_SECONDS = 60.0
TENANTS = 4
SETTLE_SECONDS = 120.0
HAMMER_SECONDS = 8.0
HAMMER_THREADS = 16


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    nginx = require_parts()
    running = build_cluster(tmp_path, nginx)
    try:
        running.start(TENANTS)
        yield running
    finally:
        running.stop()


# --- faults -------------------------------------------------------------------------------------------


def _running_job_of(cluster: Cluster, pid: int) -> str | None:
    assert cluster.engine is not None
    query = select(image_imports.c.image_id).where(
        image_imports.c.status == "running", image_imports.c.claimed_by.like(f"%:{pid}:%")
    )
    with cluster.engine.connect() as conn:
        row = conn.execute(query.limit(1)).first()
    return None if row is None else str(row.image_id)


def faults(cluster: Cluster, began: float, seen: dict[str, Any]) -> None:
    """At 10 s SIGKILL a worker as soon as it runs a job, restart it 3 s later; at 30 s SIGKILL a server
    (uploads are in flight through it), restart it 3 s later on its port."""
    time.sleep(max(0.0, began + 10 - time.monotonic()))
    victim = cluster.workers[0]
    assert victim is not None
    seen["killed_job"] = wait_until(
        lambda: _running_job_of(cluster, victim.proc.pid), what="a job on the first worker", timeout=30
    )
    victim.kill()
    time.sleep(3)
    cluster.workers[0] = cluster.start_worker()
    time.sleep(max(0.0, began + 30 - time.monotonic()))
    cluster.kill_server(0)
    seen["server_killed_at"] = time.monotonic() - began
    time.sleep(3)
    cluster.restart_server(0)


def run_load(cluster: Cluster, ledger: Ledger) -> dict[str, Any]:
    accounts = [key.account_id for key in cluster.keys]
    tenants = [
        Tenant(
            n,
            cluster.public_url,
            key,
            [a for a in accounts if a != key.account_id],
            cluster.sources,
            cluster.source_bucket,
            ledger,
        )
        for n, key in enumerate(cluster.keys)
    ]
    stop = threading.Event()
    threads = [threading.Thread(target=t.run, args=(stop,), name=f"tenant{t.index}") for t in tenants]
    seen: dict[str, Any] = {}
    began = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        faults(cluster, began, seen)
        time.sleep(max(0.0, began + LOAD_SECONDS - time.monotonic()))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    for tenant in tenants:
        if tenant.error is not None:
            raise AssertionError(f"tenant {tenant.index} failed") from tenant.error
    seen["load_seconds"] = time.monotonic() - began
    return seen


# --- settling and what is stored -----------------------------------------------------------------------


def _rows(cluster: Cluster) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    assert cluster.engine is not None
    with cluster.engine.connect() as conn:
        shown = {r.id: r for r in conn.execute(select(images))}
        jobs = {r.image_id: r for r in conn.execute(select(image_imports))}
        members = list(conn.execute(select(image_members)))
    return shown, jobs, members


def _busy(cluster: Cluster) -> int:
    assert cluster.engine is not None
    importing = select(func.count()).select_from(images).where(images.c.status == "importing")
    working = (
        select(func.count())
        .select_from(image_imports)
        .where(image_imports.c.status.in_(("pending", "running")))
    )
    with cluster.engine.connect() as conn:
        return int(conn.execute(importing).scalar_one()) + int(conn.execute(working).scalar_one())


def unowned_objects(cluster: Cluster) -> list[str]:
    """Stored objects (committed or staged) that no row owns, and owned data missing from the store."""
    parts = build_components(cluster.settings)
    try:
        with parts.db.read() as conn:
            committed = {r.blob_key for r in conn.execute(select(images.c.blob_key)) if r.blob_key}
            keys = conn.execute(select(image_imports.c.staging_key))
            staging = {r.staging_key for r in keys if r.staging_key}
        stored = {blob.key for blob in parts.blobs.blobs()}
        staged = [upload.key for upload in parts.blobs.staged()]
    finally:
        parts.close()
    # Behind the store's back: nothing in the bucket lies outside the store's prefix either.
    listed = cluster.s3().get_paginator("list_objects_v2").paginate(Bucket=cluster.blob_bucket)
    wrong = [
        f"object {item['Key']}"
        for page in listed
        for item in page.get("Contents", [])
        if not item["Key"].startswith("images/")
    ]
    wrong += [f"blob {key}" for key in stored - committed - staging]
    wrong += [f"staged {key}" for key in staged if key not in staging and key not in committed]
    wrong += [f"missing {key}" for key in committed - stored]
    return wrong


def check_images(shown: dict[str, Any], jobs: dict[str, Any], sources: dict[str, Source]) -> None:
    assert shown, "the load made no image"
    for image_id, image in shown.items():
        job = jobs.get(image_id)
        source = source_of(image.name, sources)
        what = f"{image_id} ({image.name}, job {job and (job.source, job.status, job.reason)})"
        assert image.status in ("active", "killed", "queued"), what
        if image.status == "active":
            assert (image.checksum, image.os_hash_value) == (source.md5, source.sha512), what
            assert image.size == len(source.data), what
        elif image.status == "killed":
            assert job is not None and job.reason, what
        else:  # queued: an upload never sent, or interrupted (its job says so), never a URL import
            assert job is None or job.source == "upload", what
            assert job is None or (job.status == "failed" and "interrupted" in (job.reason or "")), what


def check_ledger(ledger: Ledger, shown: dict[str, Any], members: list[Any]) -> None:
    """No acknowledged write is lost: created images exist unless a delete was sent, uploads answered 204
    are active, acknowledged deletes are gone, acknowledged members and acceptances are there."""
    for image_id in ledger.created:
        assert image_id in shown or image_id in ledger.sent_delete, f"created {image_id} is lost"
    for image_id in ledger.deleted:
        assert image_id not in shown, f"deleted {image_id} is back"
    for image_id in ledger.uploaded - ledger.sent_delete:
        assert shown[image_id].status == "active", f"uploaded {image_id} is {shown[image_id].status}"
    rows = {(m.image_id, m.member_id): m.status for m in members}
    for pair in ledger.members:
        assert pair[0] not in shown or pair in rows, f"member {pair} is lost"
    for pair in ledger.accepted:
        assert pair[0] not in shown or rows.get(pair) == "accepted", f"acceptance {pair} is lost"


def check_metrics_stay_behind_the_proxy(cluster: Cluster) -> None:
    """Prometheus scrapes each server; the public side of nginx does not serve /metrics."""
    assert httpx.get(cluster.public_url + "/metrics", timeout=30).status_code == 404
    direct = httpx.get(cluster.servers[0].base_url + "/metrics", timeout=30)
    assert direct.status_code == 200 and "scp_images_http_requests_total" in direct.text


def check_downloads(cluster: Cluster, shown: dict[str, Any], sources: dict[str, Source]) -> None:
    """A few active images read back through nginx, byte for byte."""
    owners = {key.account_id: key for key in cluster.keys}
    active = sorted(i for i, image in shown.items() if image.status == "active")[:4]
    with httpx.Client(timeout=60) as http:
        for image_id in active:
            response = _get_within_the_rate(
                http, f"{cluster.public_url}/v2/images/{image_id}/file", owners[shown[image_id].owner]
            )
            assert response.status_code == 200, response.text
            assert response.content == source_of(shown[image_id].name, sources).data


def _get_within_the_rate(http: httpx.Client, url: str, key: Key) -> httpx.Response:
    """A signed GET, sent again (newly signed) after the Retry-After of a 429."""
    for _ in range(10):
        signed = sign_request("GET", url, key.access_key, key.secret_key)
        response = http.get(url, headers=signed.as_dict())
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers.get("retry-after", "1")))
    raise AssertionError(f"{url} stayed rate limited")


# --- state shared by the two servers ---------------------------------------------------------------------


def check_replay_refused_by_the_other_server(cluster: Cluster) -> None:
    key = cluster.new_key("replay")  # a key of its own: no other request spends its rate
    url = f"{cluster.public_url}/v1/images?n=replay"  # signed for nginx's URL, as a client signs it
    signed = sign_request("GET", url, key.access_key, key.secret_key).as_dict()
    first, second = (server.base_url + "/v1/images?n=replay" for server in cluster.servers)
    with httpx.Client(timeout=30) as http:
        assert http.get(first, headers=signed).status_code == 200
        replayed = http.get(second, headers=signed)
        assert replayed.status_code == 401, replayed.text
        fresh = sign_request("GET", url, key.access_key, key.secret_key).as_dict()
        assert http.get(second, headers=fresh).status_code == 200  # the key itself is fine there


def check_rate_limit_across_servers(cluster: Cluster) -> None:
    key = cluster.new_key("hammer")
    result = hammer([s.base_url for s in cluster.servers], key, HAMMER_SECONDS, HAMMER_THREADS)
    allowed = 1.2 * RATE_LIMIT * result.seconds + RATE_LIMIT  # the rate, plus one burst of it
    offered = result.passed + result.limited
    # A bucket per process would let up to twice the rate through: seen only if more than allowed is offered.
    assert offered > 1.25 * allowed, f"only {offered} requests in {result.seconds:.1f} s: too few to tell"
    assert result.limited > 0
    said = f"{result.passed} passed, {result.limited} limited in {result.seconds:.1f} s (max {allowed:.0f})"
    assert result.passed <= allowed, said


def test_two_servers_and_two_workers_under_load_with_kills(cluster: Cluster) -> None:
    ledger = Ledger()
    seen = run_load(cluster, ledger)
    for action in ("import", "upload", "share", "accept", "delete"):
        assert ledger.counts[action] > 0, f"the load never managed to {action}: {dict(ledger.counts)}"
    wait_until(lambda: _busy(cluster) == 0, what="in-flight work to settle", timeout=SETTLE_SECONDS)
    sources = {source.name: source for source in cluster.sources}
    shown, jobs, members = _rows(cluster)
    killed_job = seen["killed_job"]
    assert killed_job not in shown or jobs[killed_job].status in ("succeeded", "failed")
    check_images(shown, jobs, sources)
    check_ledger(ledger, shown, members)
    # Orphans (what a killed writer left) go once older than the grace, at a worker's next sweep.
    try:
        wait_until(lambda: not unowned_objects(cluster), what="every stored object owned", timeout=60)
    except TimeoutError:
        pytest.fail(f"objects no row owns, or owned data missing: {unowned_objects(cluster)}")
    check_downloads(cluster, shown, sources)
    check_metrics_stay_behind_the_proxy(cluster)
    check_replay_refused_by_the_other_server(cluster)
    check_rate_limit_across_servers(cluster)
