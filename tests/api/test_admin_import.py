"""The operator's import: unsafe files are refused with a clear message and leave nothing behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from scp_images.config import Settings
from scp_images.store.sql.tables import images
from tests.api.helpers import admin, admin_json
from tests.conftest import run


def _image_rows(settings: Settings) -> int:
    engine = create_engine(settings.resolved_database_url())
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(images)).scalar_one())
    finally:
        engine.dispose()


def _stored_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "blobs"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _account(settings: Settings) -> str:
    return str(admin_json(settings, "account", "create", "--name", "ops")["id"])


def test_backing_file_is_refused_and_nothing_is_left(
    settings: Settings, tmp_path: Path, make_qcow2: Any
) -> None:
    owner = _account(settings)
    base = make_qcow2("base.qcow2", "32M")
    child = tmp_path / "child.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(child))
    result = admin(
        settings,
        "image",
        "import",
        "--file",
        str(child),
        "--name",
        "child",
        "--os-distro",
        "ubuntu",
        "--owner",
        owner,
        check=False,
    )
    assert result.returncode == 1
    assert "backing" in result.stderr.lower()
    assert _image_rows(settings) == 0
    assert _stored_files(settings) == []


def test_not_a_qcow2_is_refused(settings: Settings, tmp_path: Path) -> None:
    owner = _account(settings)
    raw = tmp_path / "disk.qcow2"
    raw.write_bytes(b"\0" * (1 << 20))
    result = admin(
        settings,
        "image",
        "import",
        "--file",
        str(raw),
        "--name",
        "raw",
        "--os-distro",
        "ubuntu",
        "--owner",
        owner,
        check=False,
    )
    assert result.returncode == 1
    assert "qcow2" in result.stderr.lower()
    assert _image_rows(settings) == 0
    assert _stored_files(settings) == []


def test_unknown_owner_is_refused(settings: Settings, make_qcow2: Any) -> None:
    _account(settings)
    result = admin(
        settings,
        "image",
        "import",
        "--file",
        str(make_qcow2()),
        "--name",
        "x",
        "--os-distro",
        "ubuntu",
        "--owner",
        "0" * 32,
        check=False,
    )
    assert result.returncode == 1
    assert "0" * 32 in result.stderr
    assert _image_rows(settings) == 0


def test_import_stores_the_bytes(settings: Settings, make_qcow2: Any) -> None:
    owner = _account(settings)
    path = make_qcow2()
    image = admin_json(
        settings,
        "image",
        "import",
        "--file",
        str(path),
        "--name",
        "ok",
        "--os-distro",
        "ubuntu",
        "--owner",
        owner,
        "--hidden",
        "--protected",
        "--os-version",
        "22.04",
    )
    (stored,) = _stored_files(settings)
    assert stored.read_bytes() == path.read_bytes()
    assert image["os_hidden"] is True and image["protected"] is True and image["scp_os_version"] == "22.04"
    assert image["visibility"] == "public" and image["scp_image_type"] == "standard"
