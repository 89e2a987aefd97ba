"""Health, readiness, metrics, structured logs, the rate limit and the IAM endpoint catalog."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from scp_images.config import Settings
from scp_images.logs import JsonFormatter
from tests.api.helpers import publish
from tests.support.stack import Stack, start_stack


def test_health_and_readiness(stack: Stack) -> None:
    assert stack.http.get(stack.base_url + "/healthz").json() == {"status": "ok"}
    ready = stack.http.get(stack.base_url + "/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "blob_store": "ok", "schema": "ok"}


def test_readiness_fails_when_the_blob_store_is_gone(tmp_path: Path, database_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "d", database_url=database_url, blob_url=(tmp_path / "blobs").as_uri()
    )
    running = start_stack(settings)
    try:
        (tmp_path / "blobs").rename(tmp_path / "moved")
        (tmp_path / "blobs").write_text("not a directory")
        ready = running.http.get(running.base_url + "/readyz")
        assert ready.status_code == 503
        assert ready.json()["blob_store"].startswith("unreachable")
    finally:
        running.stop()


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        named = line.startswith(name + "{") or line.startswith(name + " ")
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_by_route_status_and_version(stack: Stack, make_qcow2: Any) -> None:
    key = stack.new_account("m")
    image = publish(stack, make_qcow2(), key.account_id)
    for version in ("1.0", "1.3", "1.3"):
        stack.request("GET", f"/v1/images/{image['id']}", key, version=version)
    stack.request("GET", "/v1/images/70a599e0-31e7-49b7-b260-868f441e862b", key)
    text = stack.http.get(stack.base_url + "/metrics").text
    route = "/v1/images/{image_id}"
    assert _metric(text, "scp_images_http_requests_total", route=route, status="200", api_version="1.3") == 2
    assert _metric(text, "scp_images_http_requests_total", route=route, status="200", api_version="1.0") == 1
    assert _metric(text, "scp_images_http_requests_total", route=route, status="404", api_version="1.3") == 1
    assert _metric(text, "scp_images_http_request_duration_seconds_count", route=route, method="GET") == 4
    assert "scp_images_import_queue_depth 0.0" in text


def test_import_metrics_count_bytes_and_failures(stack: Stack, make_qcow2: Any, tmp_path: Path) -> None:
    key = stack.new_account("m")
    good = make_qcow2("good.qcow2", "8M")
    created = stack.request(
        "POST", "/v1/images", key, params={"source": "upload"}, json={"name": "u", "os_distro": "rocky"}
    ).json()
    stack.request("PUT", f"/v2/images/{created['id']}/file", key, content=good.read_bytes())
    bad = stack.request(
        "POST", "/v1/images", key, params={"source": "upload"}, json={"name": "b", "os_distro": "rocky"}
    ).json()
    stack.request("PUT", f"/v2/images/{bad['id']}/file", key, content=b"\0" * 4096)
    text = stack.http.get(stack.base_url + "/metrics").text
    assert _metric(text, "scp_images_import_bytes_total") == good.stat().st_size
    assert _metric(text, "scp_images_import_failures_total", reason="not_qcow2") == 1
    assert _metric(text, "scp_images_import_duration_seconds_count", outcome="active") == 1


def test_access_log_is_json_with_the_request_id(stack: Stack) -> None:
    key = stack.new_account("log")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("scp_images.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        response = stack.request("GET", "/v1/images", key)
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (entry,) = [e for e in lines if e["request_id"] == response.headers["x-request-id"]]
    assert entry["status"] == 200 and entry["path"] == "/v1/images" and entry["api_version"] == "1.3"
    assert entry["access_key"] == key.access_key and entry["duration_ms"] > 0 and entry["level"] == "info"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_rate_limit_per_access_key(tmp_path: Path, database_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "d", database_url=database_url, rate_limit=2.0)
    running = start_stack(settings)
    try:
        first, second = running.new_account("a"), running.new_account("b")
        answers = [running.request("GET", "/v1/images", first) for _ in range(6)]
        assert [a.status_code for a in answers[:2]] == [200, 200]
        limited = next(a for a in answers if a.status_code == 429)  # StopIteration: never limited
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["errors"][0]["code"] == "virtualserver.request.RateLimited"
        assert running.request("GET", "/v1/images", second).status_code == 200
    finally:
        running.stop()


def test_rate_limit_is_off_by_default(stack: Stack) -> None:
    key = stack.new_account("a")
    assert {stack.request("GET", "/v1/images", key).status_code for _ in range(30)} == {200}


def test_endpoint_catalog_lets_auth_url_clients_find_the_service(stack: Stack) -> None:
    """Go SDK with only an AuthUrl: signed GET {auth_url}/endpoints, pick service_type scp-virtualserver."""
    key = stack.new_account("go")
    response = stack.request(
        "GET", "/endpoints", key, version=None, account_id="", headers={"Scp-AccountId": ""}
    )
    assert response.status_code == 200, response.text
    (entry,) = [e for e in response.json()["endpoints"] if e["service_type"] == "scp-virtualserver"]
    assert entry["region"] == "kr-west1" and entry["url"] == stack.base_url
    assert stack.http.get(entry["url"] + "/healthz").status_code == 200
    unsigned = stack.http.get(stack.base_url + "/endpoints")
    assert unsigned.status_code == 401


def test_server_image_endpoint_answers_404_no_such_server(stack: Stack) -> None:
    key = stack.new_account("srv")
    response = stack.request(
        "POST", "/v1/servers/70a599e0-31e7-49b7-b260-868f441e862b/images", key, json={"image_name": "x"}
    )
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "virtualserver.server.NotFound"
