"""CLI helpers: ``scp-images image …`` as a real subprocess, or in-process through Typer's CliRunner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from scp_images.cli.main import app
from tests.sdk.conftest import s3_bucket, s3_stack  # noqa: F401 - the S3 import fixtures, shared
from tests.support.stack import Key, Stack

SCP_IMAGES = [sys.executable, "-m", "scp_images.cli"]
SCP_VARIABLES = ("SCP_ENDPOINT", "SCP_ACCESS_KEY", "SCP_SECRET_KEY", "SCP_ACCOUNT_ID")


def clean_env(home: Path, **values: str) -> dict[str, str]:
    """The test process's environment without any SCP_* credentials, with HOME moved to ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in SCP_VARIABLES}
    env.update(HOME=str(home), COLUMNS="200", **values)
    return env


def key_env(stack: Stack, key: Key, home: Path) -> dict[str, str]:
    return clean_env(
        home, SCP_ENDPOINT=stack.base_url, SCP_ACCESS_KEY=key.access_key, SCP_SECRET_KEY=key.secret_key
    )


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SCP_IMAGES, "image", *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def owner(stack: Stack) -> Key:
    return stack.new_account("owner")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def small_qcow2(make_qcow2: Callable[..., Path]) -> Path:
    return make_qcow2("small.qcow2", "1M", data=False)


Invoke = Callable[..., Result]


def make_invoker(stack: Stack, home: Path) -> Invoke:
    """Run ``image <args>`` in-process as ``key`` (credentials through the global options)."""
    runner = CliRunner()
    unset: dict[str, str | None] = {name: None for name in SCP_VARIABLES}

    def run(key: Key, *args: str) -> Result:
        options = ["--endpoint", stack.base_url, "--access-key", key.access_key]
        options += ["--secret-key", key.secret_key]
        env = {**unset, "HOME": str(home)}
        return runner.invoke(app, ["image", *options, *args], env=env, catch_exceptions=False)

    return run


@pytest.fixture
def invoke(stack: Stack, home: Path) -> Invoke:
    return make_invoker(stack, home)


def exit_code(result: Result | subprocess.CompletedProcess[str]) -> int:
    return result.returncode if isinstance(result, subprocess.CompletedProcess) else result.exit_code


def json_of(result: Result | subprocess.CompletedProcess[str]) -> Any:
    assert exit_code(result) == 0, result.stdout + result.stderr
    return json.loads(result.stdout)
