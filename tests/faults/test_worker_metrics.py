"""``scp-images worker --metrics-port P`` serves the worker's own figures: the imports it ran (here one
that fails), its queue depth and age and its process."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from scp_images.config import Settings
from tests.faults.test_import_crash import call, settled
from tests.support.process import ServerProcess, WorkerProcess, settings_env
from tests.support.slow_source import SlowSource
from tests.support.stack import Key, free_port
from tests.support.tools import wait_until


def _value(text: str, pattern: str) -> float | None:
    found = re.search(rf"^{pattern} (\S+)$", text, re.M)
    return float(found[1]) if found else None


def test_a_worker_serves_its_own_metrics(
    crash_settings: Settings, key: Key, source: SlowSource, tmp_path: Path
) -> None:
    url = source.add("not-a-disk.qcow2", b"\0" * 65536)
    source.hurry()
    no_jobs = crash_settings.model_copy(update={"run_import_jobs": False})
    env = settings_env(no_jobs, SSL_CERT_FILE=str(source.ca_file))
    server = ServerProcess(env, tmp_path / "server.log")
    port = free_port()
    worker = WorkerProcess(env, tmp_path / "worker.log", flags=("--metrics-port", str(port)))
    try:
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        before = httpx.get(metrics_url, timeout=30).text
        assert _value(before, "scp_images_import_queue_depth") == 0
        assert _value(before, "scp_images_import_queue_age_seconds") == 0  # read at each scrape
        assert _value(before, "process_start_time_seconds") is not None  # the worker's own process
        assert _value(before, r'scp_images_import_failures_total\{reason="not_qcow2"\}') is None

        body = {"name": "m", "os_distro": "ubuntu", "url": url}
        created = call(server.base_url, key, "POST", "/v1/images", json=body)
        assert created.status_code == 200, created.text
        assert settled(server.base_url, key, created.json()["id"])["status"] == "killed"

        def counted() -> str | None:
            text = httpx.get(metrics_url, timeout=30).text
            failed = _value(text, r'scp_images_import_failures_total\{reason="not_qcow2"\}')
            return text if failed == 1 else None

        text = wait_until(counted, what="the failed import in the worker's metrics")
        assert isinstance(text, str)
        assert _value(text, r'scp_images_import_duration_seconds_count\{outcome="killed"\}') == 1
        server_metrics = httpx.get(server.base_url + "/metrics", timeout=30).text
        assert _value(server_metrics, r'scp_images_import_failures_total\{reason="not_qcow2"\}') is None
    finally:
        worker.stop()
        server.stop()
    assert worker.proc.returncode == 0
