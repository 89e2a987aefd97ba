"""Fixtures for the qcow2 inspector tests: qemu-img/qemu-io in a scratch directory."""

from __future__ import annotations

import shutil

import pytest

from tests.formats.helpers import Qemu


@pytest.fixture(scope="session")
def qemu(tmp_path_factory: pytest.TempPathFactory) -> Qemu:
    if shutil.which("qemu-img") is None or shutil.which("qemu-io") is None:
        pytest.skip("qemu-img/qemu-io are missing: install Debian's qemu-utils to build the image corpus")
    return Qemu(tmp_path_factory.mktemp("qcow2-corpus"))
