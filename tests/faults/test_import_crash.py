"""SIGKILL during an import, then a restart: the image ends active with the right bytes or killed with a
reason; never importing forever, never active with wrong data, and no blob or staged upload left over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from scp_images.app import build_components
from scp_images.config import Settings
from scp_images.signing import sign_request
from tests.api.helpers import file_digests
from tests.support.process import ServerProcess, WorkerProcess, settings_env
from tests.support.slow_source import SlowSource
from tests.support.stack import Key
from tests.support.tools import wait_until


def call(base: str, key: Key, method: str, path: str, **kwargs: Any) -> httpx.Response:
    url = base + path
    headers = sign_request(method, url, key.access_key, key.secret_key).as_dict()
    return httpx.request(method, url, headers=headers, timeout=30, **kwargs)


def settled(base: str, key: Key, image_id: str) -> dict[str, Any]:
    """The image once it has stopped moving: active or killed."""

    def shown() -> dict[str, Any]:
        return call(base, key, "GET", f"/v1/images/{image_id}").json()  # type: ignore[no-any-return]

    final = ("active", "killed")
    return wait_until(shown, accept=lambda body: body["status"] in final, what="image settled", timeout=60)


def import_status(base: str, key: Key, image_id: str) -> dict[str, Any]:
    return call(base, key, "GET", f"/v1/images/{image_id}/import").json()  # type: ignore[no-any-return]


def leftovers(settings: Settings, keep: set[str]) -> tuple[list[str], list[Path]]:
    parts = build_components(settings)
    try:
        extra = sorted(set(parts.blobs.keys()) - keep)
    finally:
        parts.close()
    staging = settings.data_dir / "blobs" / ".staging"
    return extra, sorted(staging.glob("*")) if staging.exists() else []


def start_mid_import(base: str, key: Key, url: str) -> str:
    created = call(base, key, "POST", "/v1/images", json={"name": "crash", "os_distro": "ubuntu", "url": url})
    assert created.status_code == 200, created.text
    image_id = created.json()["id"]
    wait_until(
        lambda: import_status(base, key, image_id).get("bytes_read", 0) > 0,
        what="import under way",
        timeout=60,
    )
    return str(image_id)


def test_server_killed_mid_import_resumes_to_the_right_bytes(
    crash_settings: Settings, key: Key, source: SlowSource, make_qcow2: Any, tmp_path: Path
) -> None:
    path = make_qcow2("big.qcow2", "64M")
    url = source.add("big.qcow2", path.read_bytes())
    env = settings_env(crash_settings, SSL_CERT_FILE=str(source.ca_file))
    server = ServerProcess(env, tmp_path / "server.log")
    image_id = start_mid_import(server.base_url, key, url)
    # bytes_read is the runner's heartbeat, which a loaded machine may write before the staged file shows
    # up on disk: wait for the file itself, so the kill below always lands mid-import with bytes staged.
    wait_until(lambda: leftovers(crash_settings, set())[1], what="a staged upload on disk", timeout=60)
    server.kill()
    assert leftovers(crash_settings, set())[1], "the killed import should have left a staged upload"
    source.hurry()
    server = ServerProcess(env, tmp_path / "server.log")
    try:
        shown = settled(server.base_url, key, image_id)
        md5, sha512, size = file_digests(path)
        assert (shown["status"], shown["checksum"], shown["os_hash_value"], shown["size"]) == (
            "active",
            md5,
            sha512,
            size,
        )
        job = import_status(server.base_url, key, image_id)
        assert job["status"] == "succeeded"
        download = call(server.base_url, key, "GET", f"/v2/images/{image_id}/file")
        assert download.content == path.read_bytes()
        parts = build_components(crash_settings)
        with parts.db.transaction() as conn:
            from scp_images.store.sql.images import get_image

            stored = get_image(conn, image_id)
        parts.close()
        assert stored is not None
        assert leftovers(crash_settings, {stored.blob_key or ""}) == ([], [])
    finally:
        server.stop()


def test_server_killed_and_source_gone_ends_killed_with_nothing_left(
    crash_settings: Settings, key: Key, source: SlowSource, make_qcow2: Any, tmp_path: Path
) -> None:
    path = make_qcow2("gone.qcow2", "64M")
    url = source.add("gone.qcow2", path.read_bytes())
    env = settings_env(crash_settings, SSL_CERT_FILE=str(source.ca_file))
    server = ServerProcess(env, tmp_path / "server.log")
    image_id = start_mid_import(server.base_url, key, url)
    server.kill()
    source.remove("gone.qcow2")
    server = ServerProcess(env, tmp_path / "server.log")
    try:
        shown = settled(server.base_url, key, image_id)
        assert shown["status"] == "killed"
        assert "404" in import_status(server.base_url, key, image_id)["reason"]
        assert leftovers(crash_settings, set()) == ([], [])
    finally:
        server.stop()


def test_separate_worker_killed_mid_import_another_worker_finishes(
    crash_settings: Settings, key: Key, source: SlowSource, make_qcow2: Any, tmp_path: Path
) -> None:
    path = make_qcow2("w.qcow2", "64M")
    url = source.add("w.qcow2", path.read_bytes())
    env = settings_env(
        crash_settings.model_copy(update={"run_import_jobs": False}), SSL_CERT_FILE=str(source.ca_file)
    )
    server = ServerProcess(env, tmp_path / "server.log")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        image_id = start_mid_import(server.base_url, key, url)
        worker.kill()
        source.hurry()
        worker = WorkerProcess(env, tmp_path / "worker2.log")
        shown = settled(server.base_url, key, image_id)
        assert (shown["status"], shown["checksum"]) == ("active", file_digests(path)[0])
    finally:
        worker.stop()
        server.stop()


def test_delete_during_import_stops_it_and_leaves_nothing(
    crash_settings: Settings, key: Key, source: SlowSource, make_qcow2: Any, tmp_path: Path
) -> None:
    path = make_qcow2("del.qcow2", "64M")
    url = source.add("del.qcow2", path.read_bytes())
    env = settings_env(crash_settings, SSL_CERT_FILE=str(source.ca_file))
    server = ServerProcess(env, tmp_path / "server.log")
    try:
        image_id = start_mid_import(server.base_url, key, url)
        assert call(server.base_url, key, "DELETE", f"/v1/images/{image_id}").status_code == 204
        assert call(server.base_url, key, "GET", f"/v1/images/{image_id}").status_code == 404
        # the import notices at its next heartbeat and cancels its staged upload
        wait_until(
            lambda: leftovers(crash_settings, set()) == ([], []), what="nothing left behind", timeout=20
        )
    finally:
        server.stop()


def test_killed_between_the_row_delete_and_the_blob_delete_the_sweep_removes_the_blob(
    crash_settings: Settings, key: Key, make_qcow2: Any, tmp_path: Path
) -> None:
    """A SIGKILL during DELETE can land after the row's commit and before the bytes are removed; this
    makes exactly that state (row gone, blob kept) and restarts the server."""
    from scp_images.domain.image import Visibility
    from scp_images.services.data.ingest import PublishRequest
    from scp_images.store.sql.images import delete_image

    parts = build_components(crash_settings)
    try:
        image = parts.ingest.publish_file(
            PublishRequest(str(make_qcow2()), "doomed", "ubuntu", key.account_id, Visibility.PRIVATE)
        )
        with parts.db.transaction() as conn:
            delete_image(conn, image.id)
        assert image.blob_key in set(parts.blobs.keys())
    finally:
        parts.close()
    server = ServerProcess(settings_env(crash_settings), tmp_path / "server.log")
    try:
        wait_until(
            lambda: leftovers(crash_settings, set()) == ([], []), what="nothing left behind", timeout=20
        )
        assert call(server.base_url, key, "GET", f"/v1/images/{image.id}").status_code == 404
    finally:
        server.stop()
