"""`scp-images serve` on an empty data dir: it prints a demo key that works, and only the first time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from scp_images.client import Client
from tests.support.stack import free_port


def _serve(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCP_IMAGES_")}
    return subprocess.Popen(
        [sys.executable, "-m", "scp_images.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def _read_until_listening(proc: subprocess.Popen[str]) -> str:
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "listening on" in line:
            break
    return "".join(lines)


def _wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("server not healthy")


def test_first_start_prints_a_working_demo_key(tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(tmp_path / "data", port)
    try:
        banner = _read_until_listening(proc)
        access = re.search(r"access key : (\S+)", banner)
        secret = re.search(r"secret key : (\S+)", banner)
        assert access and secret, banner
        assert f"SCP_ENDPOINT=http://127.0.0.1:{port}" in banner and "scp-images image list" in banner
        _wait_healthy(port)
        with Client(f"http://127.0.0.1:{port}", access[1], secret[1]) as client:
            assert client.images.list() == []
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert (tmp_path / "data" / "scp-images.db").exists()

    proc = _serve(tmp_path / "data", port)
    try:
        assert "access key" not in _read_until_listening(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
