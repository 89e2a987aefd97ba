"""Fixtures for the qcow2 inspector tests: qemu-img/qemu-io in a scratch directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.formats.helpers import Qemu
from tests.support.tools import require_qemu


@pytest.fixture(scope="session")
def qemu(tmp_path_factory: pytest.TempPathFactory) -> Qemu:
    require_qemu()
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
