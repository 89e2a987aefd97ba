"""Fixtures for the browser tests: Debian's chromium (required in CI), one server per test worker with an
allowlisted plain-http import source, and a fresh browser context per console."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scp_images.app import source_config
from scp_images.config import Settings
from scp_images.imports.sources import SourceResolver
from tests.console.chromium import CHROMIUM_ARGS
from tests.console.sources import GatedSource
from tests.support.stack import Stack, start_stack
from tests.support.tools import missing

SCREENSHOTS_ENV = "SCP_IMAGES_SCREENSHOTS"
VIEWPORT = {"width": 1200, "height": 820}


def _missing(message: str) -> None:
    # CI installs chromium (.ci/run); a missing browser there is a failure, never a skip.
    missing(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = os.environ.get("SCP_IMAGES_CHROMIUM") or shutil.which("chromium")
    if executable is None:
        _missing("chromium is not installed: apt-get install chromium fonts-noto-cjk")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def source() -> Iterator[GatedSource]:
    running = GatedSource()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def console_stack(tmp_path_factory: pytest.TempPathFactory, source: GatedSource) -> Iterator[Stack]:
    """One server for the worker's browser tests (each test uses its own accounts), on SQLite."""
    root = tmp_path_factory.mktemp("console-stack")
    settings = Settings(
        data_dir=root / "data",
        import_allowed_hosts=[source.host],
        import_heartbeat_seconds=0.2,
    )
    sources = SourceResolver(source_config(settings), allow_plain_http_for_tests=True)
    running = start_stack(settings, sources=sources)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get(SCREENSHOTS_ENV)
    if wanted:
        path = Path(wanted)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def open_console(browser: Any, console_stack: Stack, screenshots: Path) -> Iterator[Callable[..., Any]]:
    """Opens consoles, each in its own browser context (its own sessionStorage: another user)."""
    from tests.console.browser import Console

    contexts: list[Any] = []
    consoles: list[Console] = []

    def open_one(**options: Any) -> Console:
        context = browser.new_context(
            viewport=options.pop("viewport", VIEWPORT), accept_downloads=True, **options
        )
        contexts.append(context)
        console = Console(context.new_page(), console_stack.base_url, screenshots)
        console.record()
        consoles.append(console)
        return console

    yield open_one
    try:
        for console in consoles:
            if not console.page.is_closed():
                console.check_clean()
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def console(open_console: Callable[..., Any]) -> Any:
    return open_console()


@pytest.fixture
def qcow2_with_data(tmp_path: Path) -> Callable[[str, int], Path]:
    """A real qcow2 whose file holds ``mib`` MiB of written data (so uploads take measurable time)."""
    import subprocess

    if shutil.which("qemu-img") is None:
        pytest.fail("qemu-img is missing: the test command installs qemu-utils")

    def make(name: str, mib: int) -> Path:
        path = tmp_path / name
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", str(path), f"{max(64, mib * 2)}M"], check=True
        )
        subprocess.run(
            ["qemu-io", "-c", f"write -P 0x5a 0 {mib}M", str(path)], check=True, capture_output=True
        )
        return path

    return make
