"""Fixtures for the qcow2 inspector tests: qemu-img/qemu-io in a scratch directory."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.formats.helpers import Qemu


@pytest.fixture(scope="session")
def qemu(tmp_path_factory: pytest.TempPathFactory) -> Qemu:
    if shutil.which("qemu-img") is None or shutil.which("qemu-io") is None:
        pytest.skip("qemu-img/qemu-io are missing: install Debian's qemu-utils to build the image corpus")
    return Qemu(tmp_path_factory.mktemp("qcow2-corpus"))


@pytest.fixture(scope="session")
def corpus(qemu: Qemu) -> Callable[[Callable[[Qemu], Path]], Path]:
    """Each corpus file built once per session, on first use."""
    cache: dict[Callable[[Qemu], Path], Path] = {}

    def get(build: Callable[[Qemu], Path]) -> Path:
        if build not in cache:
            cache[build] = build(qemu)
        return cache[build]

    return get
