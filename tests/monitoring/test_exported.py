"""The metrics the alert rules and the dashboard read exist on a running server, and the three that the
deploy/monitoring files added (quota refusals, import queue age, replay-guard fill) count what they say,
seen from the outside: requests over HTTP, then a scrape of /metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from scp_images.config import Settings
from scp_images.domain.quotas import Overrides
from tests.monitoring.helpers import (
    PROMETHEUS_MADE,
    alert_expressions,
    dashboard_queries,
    exported_names,
    metric_names,
    sample,
)
from tests.openstack.conftest import token
from tests.support.stack import Key, Stack, start_stack

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
QUOTAS = "scp_images_quota_refusals_total"
LIMITS = ("image_count_total", "image_size_total", "image_count_uploading")
# Accepted without reading anything: these stacks run no import jobs and reach no object store.
UNUSED_S3 = {"s3_endpoint_url": "http://127.0.0.1:9", "s3_access_key_id": "x", "s3_secret_access_key": "x"}
ACCOUNT = "8989447062e04a818baf9e073fd04fa7"
URL = f"https://object-store.kr-west1.e.samsungsdscloud.com/{ACCOUNT}/bucket/d.qcow2"


def scrape(stack: Stack) -> str:
    response = stack.http.get(stack.base_url + "/metrics")
    assert response.status_code == 200
    return response.text


@SQLITE_ONLY
def test_every_metric_the_rules_and_the_dashboard_read_is_exported(stack: Stack) -> None:
    used = metric_names(alert_expressions()) | metric_names(dashboard_queries())
    assert len(used) >= 12  # the parse found the names (a broken pattern would find none and pass)
    exported = exported_names(scrape(stack)) | PROMETHEUS_MADE
    assert not used - exported, f"read by deploy/monitoring but not exported: {sorted(used - exported)}"


def test_the_name_check_catches_a_metric_that_is_not_exported() -> None:
    page = "# TYPE scp_images_a_total counter\nscp_images_a_total 1.0\n# TYPE scp_images_b histogram\n"
    used = metric_names(["rate(scp_images_a_total[5m]) / rate(scp_images_b_bucket[5m]) + scp_images_c"])
    assert used - exported_names(page) == {"scp_images_c"}


@pytest.fixture
def quota_stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        token_secret=SecretStr("monitoring-token-secret"),
    )
    running = start_stack(settings)
    yield running
    running.stop()


def _create(stack: Stack, key: Key) -> Any:
    body = {"name": "q", "os_distro": "ubuntu"}
    return stack.request("POST", "/v1/images", key, params={"source": "upload"}, json=body)


def _refusals(stack: Stack) -> dict[str, float | None]:
    page = scrape(stack)
    return {limit: sample(page, QUOTAS, limit=limit) for limit in LIMITS}


@SQLITE_ONLY
def test_quota_refusals_count_by_limit_on_both_edges(quota_stack: Stack, make_qcow2: Any) -> None:
    stack = quota_stack
    assert _refusals(stack) == dict.fromkeys(LIMITS, 0.0)  # every limit's series exists from the start

    counted = stack.new_account("count")
    stack.components.quotas.set(counted.account_id, Overrides(images=1))  # what `admin quota set` does
    assert _create(stack, counted).status_code == 200
    refused = _create(stack, counted)
    assert refused.status_code == 413, refused.text
    assert refused.json()["errors"][0]["code"] == "virtualserver.quota.ImageCountTotalExceeded"
    assert (
        stack.request("GET", f"/v1/images/{ACCOUNT[:8]}-0000-4000-8000-000000000000", counted).status_code
        == 404
    )
    assert _refusals(stack) == {
        "image_count_total": 1.0,
        "image_size_total": 0.0,
        "image_count_uploading": 0.0,
    }

    # The OpenStack edge answers in Glance's form; the refusal is counted all the same.
    headers = {"X-Auth-Token": token(stack, counted)}
    body = {"name": "q", "disk_format": "qcow2", "container_format": "bare"}
    glance = stack.http.post(f"{stack.base_url}/image/v2/images", json=body, headers=headers)
    assert glance.status_code == 413, glance.text
    assert _refusals(stack)["image_count_total"] == 2.0

    # An upload that would pass image_size_total is refused while its bytes arrive.
    sized = stack.new_account("size")
    stack.components.quotas.set(sized.account_id, Overrides(bytes=4096))
    image = _create(stack, sized).json()
    upload = stack.request("PUT", f"/v2/images/{image['id']}/file", sized, content=make_qcow2().read_bytes())
    assert upload.status_code == 413, upload.text
    assert _refusals(stack) == {
        "image_count_total": 2.0,
        "image_size_total": 1.0,
        "image_count_uploading": 0.0,
    }


class MovableClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, 0)

    def __call__(self) -> datetime:
        return self.now


def test_queue_age_grows_while_an_import_waits_for_a_runner(tmp_path: Path, database_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, run_import_jobs=False, **UNUSED_S3
    )
    clock = MovableClock()
    stack = start_stack(settings, clock=clock)
    try:
        page = scrape(stack)
        assert sample(page, "scp_images_import_queue_depth") == 0
        assert sample(page, "scp_images_import_queue_age_seconds") == 0

        key = stack.new_account("queue", account_id=ACCOUNT)
        stack.grant(key, "bucket")
        body = {"name": "waits", "os_distro": "ubuntu", "url": URL}
        created = stack.request("POST", "/v1/images", key, json=body)
        assert created.status_code == 200, created.text
        clock.now += timedelta(minutes=10)
        page = scrape(stack)
        assert sample(page, "scp_images_import_queue_depth") == 1
        assert sample(page, "scp_images_import_queue_age_seconds") == 600

        clock.now += timedelta(minutes=5)  # a second, younger job: the age is the oldest's
        assert stack.request("POST", "/v1/images", key, json=body).status_code == 200
        page = scrape(stack)
        assert sample(page, "scp_images_import_queue_depth") == 2
        assert sample(page, "scp_images_import_queue_age_seconds") == 900
    finally:
        stack.stop()


def test_replay_guard_fill_counts_the_signatures_it_remembers(tmp_path: Path, database_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        replay_protection=True,
        replay_max_signatures=50,
    )
    stack = start_stack(settings)
    try:
        page = scrape(stack)
        assert sample(page, "scp_images_replay_guard_signatures") == 0
        assert sample(page, "scp_images_replay_guard_max_signatures") == 50
        key = stack.new_account("replay")
        for _ in range(3):
            assert stack.request("GET", "/v1/images", key).status_code == 200
        page = scrape(stack)  # unsigned: remembers nothing itself
        assert sample(page, "scp_images_replay_guard_signatures") == 3
        assert sample(page, "scp_images_replay_guard_max_signatures") == 50
    finally:
        stack.stop()


@SQLITE_ONLY
def test_replay_guard_fill_is_zero_while_replay_protection_is_off(stack: Stack) -> None:
    key = stack.new_account("off")
    assert stack.request("GET", "/v1/images", key).status_code == 200
    page = scrape(stack)
    assert sample(page, "scp_images_replay_guard_signatures") == 0
    assert sample(page, "scp_images_replay_guard_max_signatures") == stack.settings.replay_max_signatures


@SQLITE_ONLY
def test_the_operator_guide_lists_every_metric_the_server_exports(stack: Stack) -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operator" / "monitoring.md").read_text()
    families = {
        name
        for name in re.findall(r"^# TYPE (scp_images_\w+) ", scrape(stack), re.M)
        if not name.endswith("_created")  # prometheus_client's start time of each counter and histogram
    }
    assert len(families) >= 15
    assert not {name for name in families if f"`{name}`" not in guide}
