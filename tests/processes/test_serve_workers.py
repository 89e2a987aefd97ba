"""``scp-images serve --workers N``: N processes on one port (uvicorn's process model), one ``/metrics``
for all of them, and a graceful stop on SIGTERM (in-flight requests finish, new connections are refused)."""

from __future__ import annotations

import os
import re
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from scp_images.config import Settings
from scp_images.signing import sign_request
from scp_images.store.sql.tables import images
from tests.processes.conftest import StartServers, make_key
from tests.races.helpers import read_status, signed_put
from tests.races.test_uploads import file_digests_bytes
from tests.support.stack import Key
from tests.support.tools import wait_until

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
_PER_PROCESS = re.compile(r'^scp_images_process_http_requests\{pid="(\d+)"\} (\S+)$', re.M)
_REQUESTS = re.compile(r"^scp_images_http_requests_total\{[^}]*\} (\S+)$", re.M)


def per_process(metrics: str) -> dict[int, float]:
    return {int(pid): float(value) for pid, value in _PER_PROCESS.findall(metrics)}


def requests_total(metrics: str) -> float:
    return sum(float(value) for value in _REQUESTS.findall(metrics))


def _fresh_connection_get(url: str) -> int:
    with httpx.Client(timeout=30, trust_env=False) as http:  # a new connection each time
        return http.get(url).status_code


@SQLITE_ONLY
def test_two_workers_serve_one_port_and_metrics_show_both(
    settings: Settings, start_servers: StartServers
) -> None:
    (server,) = start_servers(settings.model_copy(update={"run_import_jobs": False}), 1, "--workers", "2")
    metrics_url = server.base_url + "/metrics"

    def both_served() -> dict[int, float] | None:
        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(_fresh_connection_get, [server.base_url + "/healthz"] * 16)) == {200}
        seen = per_process(httpx.get(metrics_url, timeout=30).text)
        return seen if len(seen) == 2 and all(seen.values()) else None

    pids = wait_until(both_served, what="requests answered by two processes", timeout=120)
    assert isinstance(pids, dict) and server.proc.pid not in pids  # the children serve, not serve itself

    # One scrape answers for both: the counters are the sum of what each process answered. A process
    # records a request just after answering it, so a scrape may run a moment ahead of the other's record.
    def consistent() -> str | None:
        text = httpx.get(metrics_url, timeout=30).text
        return text if requests_total(text) == sum(per_process(text).values()) else None

    text = wait_until(consistent, what="the merged counters to match the per-process gauges")
    assert isinstance(text, str)

    # A worker killed outright is replaced; its live gauge goes, its counts stay.
    dead = next(iter(pids))
    before = requests_total(text)
    os.kill(dead, signal.SIGKILL)

    def replaced() -> dict[int, float] | None:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(_fresh_connection_get, [server.base_url + "/healthz"] * 8))
        seen = per_process(httpx.get(metrics_url, timeout=30).text)
        return seen if dead not in seen and len(seen) == 2 else None

    wait_until(replaced, what="the killed worker replaced and forgotten", timeout=120)
    assert requests_total(httpx.get(metrics_url, timeout=30).text) > before


@SQLITE_ONLY
def test_sigterm_finishes_an_upload_in_flight_and_refuses_new_connections(
    settings: Settings, start_servers: StartServers, make_qcow2: Any
) -> None:
    settings = settings.model_copy(update={"run_import_jobs": False, "shutdown_timeout_seconds": 120})
    (server,) = start_servers(settings, 1, "--workers", "2")
    key = make_key(settings)
    data = make_qcow2().read_bytes()
    with httpx.Client(timeout=30, trust_env=False) as http:
        created = _signed(http, server.base_url, key, "POST", "/v1/images?source=upload", json_body=True)
        image_id = created.json()["id"]
        sock, _ = signed_put(server.base_url, f"/v2/images/{image_id}/file", key, len(data))
        half = len(data) // 2
        sock.sendall(data[:half])
        wait_until(
            lambda: (
                _signed(http, server.base_url, key, "GET", f"/v1/images/{image_id}").json()["status"]
                == "importing"
            ),
            what="the upload under way",
        )
    server.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: _refused(server.port), what="new connections refused after SIGTERM", timeout=60)
    assert server.proc.poll() is None  # still finishing the upload
    sock.sendall(data[half:])
    status = read_status(sock)
    sock.close()
    assert status == 204
    assert server.proc.wait(timeout=120) == 0
    engine = create_engine(settings.resolved_database_url())
    try:
        with engine.connect() as conn:
            query = select(images.c.status, images.c.checksum).where(images.c.id == image_id)
            row = conn.execute(query).one()
    finally:
        engine.dispose()
    assert (row.status, row.checksum) == ("active", file_digests_bytes(data))


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _signed(
    http: httpx.Client, base: str, key: Key, method: str, path: str, json_body: bool = False
) -> httpx.Response:
    headers = {"Scp-Api-Version": "virtualserver 1.3"}
    headers.update(sign_request(method, base + path, key.access_key, key.secret_key).as_dict())
    body = {"name": "slow", "os_distro": "ubuntu"} if json_body else None
    response = http.request(method, base + path, headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response


_QUOTA_REFUSED = re.compile(r'^scp_images_quota_refusals_total\{limit="image_count_total"\} (\S+)$', re.M)


@SQLITE_ONLY
def test_quota_refusals_of_every_process_add_up_in_one_scrape(
    settings: Settings, start_servers: StartServers
) -> None:
    """Each process counts its own refusals in the multiprocess directory; /metrics sums them."""
    settings = settings.model_copy(update={"run_import_jobs": False, "quota_image_count_total": 0})
    (server,) = start_servers(settings, 1, "--workers", "2")
    key = make_key(settings)
    path = "/v1/images?source=upload"
    for _ in range(8):
        with httpx.Client(timeout=30, trust_env=False) as http:  # a new connection: either process
            headers = {"Scp-Api-Version": "virtualserver 1.3"}
            headers.update(
                sign_request("POST", server.base_url + path, key.access_key, key.secret_key).as_dict()
            )
            refused = http.post(
                server.base_url + path, headers=headers, json={"name": "q", "os_distro": "ubuntu"}
            )
            assert refused.status_code == 413, refused.text

    def counted() -> float | None:
        found = _QUOTA_REFUSED.search(httpx.get(server.base_url + "/metrics", timeout=30).text)
        return float(found[1]) if found and float(found[1]) == 8 else None

    # A process records a request just after answering it: a scrape may run a moment ahead.
    assert wait_until(counted, what="eight refusals in the merged counter") == 8
