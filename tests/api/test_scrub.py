"""The integrity scrub from the outside: ``scp-images admin scrub`` finds a flipped byte and
a deleted file on the filesystem store and on S3 (SeaweedFS), flags them, and every download path answers
409 with the flag's code until the operator restores the bytes and a clean scrub clears the flag. Orphans
are reported both ways, never an upload in flight; a store outage is ``unreadable``, never ``missing``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from scp_images.cli.admin import app as admin_app
from scp_images.config import Settings
from scp_images.store.sql import images as image_store
from tests.api.conftest import s3_settings
from tests.api.helpers import cli_env, publish
from tests.conftest import run
from tests.races.helpers import read_status, signed_put
from tests.support.s3 import drop_bucket, s3_client, start_moto_server
from tests.support.stack import Key, Stack, start_stack
from tests.support.tools import wait_until

CORRUPT = "virtualserver.image.DataCorrupt"
MISSING = "virtualserver.image.DataMissing"
MiB = 1 << 20


class Stored:
    """Direct access to the stack's blob store, the way a disk fault or a careless operator would act."""

    def __init__(self, stack: Stack, s3: Any = None, bucket: str | None = None, prefix: str = "") -> None:
        self.stack, self._s3, self._bucket, self._prefix = stack, s3, bucket, prefix

    def _path(self, key: str) -> Path:
        return Path(self.stack.components.blobs.root) / key  # type: ignore[attr-defined]

    def read(self, key: str) -> bytes:
        if self._s3 is None:
            return self._path(key).read_bytes()
        body = self._s3.get_object(Bucket=self._bucket, Key=self._prefix + key)["Body"]
        return bytes(body.read())

    def write(self, key: str, data: bytes) -> None:
        if self._s3 is None:
            self._path(key).parent.mkdir(parents=True, exist_ok=True)
            self._path(key).write_bytes(data)
        else:
            self._s3.put_object(Bucket=self._bucket, Key=self._prefix + key, Body=data)

    def flip(self, key: str, position: int) -> None:
        data = bytearray(self.read(key))
        data[position] ^= 0x01
        self.write(key, bytes(data))

    def delete(self, key: str) -> None:
        if self._s3 is None:
            self._path(key).unlink()
        else:
            self._s3.delete_object(Bucket=self._bucket, Key=self._prefix + key)


@pytest.fixture(params=["file", "s3"])
def stored(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Stored]:
    """A server on the filesystem store or on SeaweedFS; orphans count at once (no grace period), and the
    server runs no background sweep of its own, so what the scrub reports stays in place."""
    base = settings.model_copy(update={"orphan_grace_seconds": 0.0, "run_import_jobs": False})
    if request.param == "file":
        running = start_stack(base)
        yield Stored(running)
        running.stop()
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    s3 = s3_client(endpoint)
    bucket = f"scrub-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)
    running = start_stack(s3_settings(base, endpoint, blob_url=f"s3://{bucket}/store"))
    yield Stored(running, s3, bucket, "store/")
    running.stop()
    drop_bucket(s3, bucket)


def admin(settings: Settings, *args: str) -> Result:
    """``scp-images admin …`` in-process (Typer's runner), configured by the environment alone."""
    unset = {name: None for name in os.environ if name.startswith("SCP_IMAGES_")}
    return CliRunner().invoke(admin_app, list(args), env={**unset, **_settings_env(settings)})


def _settings_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in cli_env(settings).items() if k.startswith("SCP_IMAGES_")}
    return {**env, "SCP_IMAGES_ORPHAN_GRACE_SECONDS": str(settings.orphan_grace_seconds)}


def scrub(stack: Stack, *args: str) -> tuple[int, dict[str, Any]]:
    done = admin(stack.settings, "scrub", "--json", *args)
    assert done.exit_code in (0, 1), done.output
    return done.exit_code, json.loads(done.stdout)


def blob_key(stack: Stack, image_id: str) -> str:
    with stack.components.db.read() as conn:
        image = image_store.get_image(conn, image_id)
    assert image is not None and image.blob_key
    return image.blob_key


def file_of(stack: Stack, key: Key, image_id: str, **headers: str) -> httpx.Response:
    return stack.request("GET", f"/v2/images/{image_id}/file", key, headers=headers)


def link_for(stack: Stack, key: Key, image_id: str) -> httpx.Response:
    return stack.request("POST", f"/v1/images/{image_id}/download-link", key, account_id=key.account_id)


def refused_counter(stack: Stack, flag: str) -> float:
    text = stack.http.get(stack.base_url + "/metrics").text
    wanted = f'scp_images_flagged_downloads_refused_total{{flag="{flag}"}} '
    line = next((x for x in text.splitlines() if x.startswith(wanted)), None)
    return float(line.split()[-1]) if line else 0.0


def assert_refused(stack: Stack, owner: Key, image_id: str, code: str, word: str) -> None:
    answer = file_of(stack, owner, image_id)
    assert answer.status_code == 409, answer.text
    item = answer.json()["errors"][0]
    assert item["code"] == code and image_id in item["detail"]
    korean = file_of(stack, owner, image_id, **{"Accept-Language": "ko-KR"})
    assert korean.status_code == 409 and word in korean.json()["errors"][0]["detail"]
    ranged = file_of(stack, owner, image_id, Range="bytes=0-9")
    assert ranged.status_code == 409 and ranged.json()["errors"][0]["code"] == code
    made = link_for(stack, owner, image_id)
    assert made.status_code == 409 and made.json()["errors"][0]["code"] == code
    # Show is untouched: SCP has no state for it, so the image stays active.
    assert stack.request("GET", f"/v1/images/{image_id}", owner).json()["status"] == "active"


@pytest.fixture
def disk(make_qcow2: Any) -> Path:
    return make_qcow2("scrubbed.qcow2", "8M")  # type: ignore[no-any-return]


def test_a_flipped_byte_is_corrupt_until_restored_and_scrubbed_clean(
    stored: Stored, disk: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stack = stored.stack
    owner = stack.new_account("owner")
    image_id = str(publish(stack, disk, owner.account_id)["id"])
    other_id = str(publish(stack, disk, owner.account_id, name="untouched")["id"])
    link = link_for(stack, owner, image_id).json()["url"]  # made before the damage
    code, report = scrub(stack)
    assert (code, report["ok"], report["fine"]) == (0, True, 2)

    key = blob_key(stack, image_id)
    stored.flip(key, 70_000)
    code, report = scrub(stack)

    assert code == 1 and report["ok"] is False
    assert (report["checked"], report["fine"]) == (2, 1)
    assert [c["image_id"] for c in report["corrupt"]] == [image_id]
    assert report["missing"] == [] and report["unreadable"] == []
    before = refused_counter(stack, "corrupt")
    with caplog.at_level(logging.WARNING, logger="scp_images.downloads"):
        assert_refused(stack, owner, image_id, CORRUPT, "무결성")
    assert refused_counter(stack, "corrupt") == before + 4
    assert any(image_id in r.getMessage() and "corrupt" in r.getMessage() for r in caplog.records)
    used = httpx.get(link, timeout=30)
    assert used.status_code == 409 and used.json()["errors"][0]["code"] == CORRUPT
    assert file_of(stack, owner, other_id).content == disk.read_bytes()  # only the damaged one

    wrong = tmp_path / "wrong.qcow2"
    wrong.write_bytes(disk.read_bytes()[:-1] + b"\x01")
    refused = admin(stack.settings, "image", "restore", image_id, "--file", str(wrong))
    assert refused.exit_code == 1 and "RestoreMismatch" in refused.stderr
    assert stored.read(key) != disk.read_bytes()  # nothing was written

    assert admin(stack.settings, "image", "restore", image_id, "--file", str(disk)).exit_code == 0
    assert stored.read(key) == disk.read_bytes()
    assert file_of(stack, owner, image_id).status_code == 409  # the flag stays until a clean scrub
    assert scrub(stack, "--image", image_id)[0] == 0
    assert file_of(stack, owner, image_id).content == disk.read_bytes()
    assert httpx.get(link, timeout=30).content == disk.read_bytes()
    assert scrub(stack)[1]["ok"] is True

    # The flag, the restore and the clearing are changes of the image: each is in the audit trail.
    listed = admin(stack.settings, "audit", "list", "--image", image_id, "--json")
    actions = [r["action"] for r in json.loads(listed.stdout)["records"]]
    assert actions[:3] == ["data.clear", "image.restore", "data.flag"]


def test_a_deleted_file_is_missing_a_row_without_bytes_until_the_image_is_deleted(
    stored: Stored, disk: Path
) -> None:
    stack = stored.stack
    owner = stack.new_account("owner")
    image_id = str(publish(stack, disk, owner.account_id)["id"])
    publish(stack, disk, owner.account_id, name="intact")  # the store is the right one: it holds this
    stored.delete(blob_key(stack, image_id))

    code, report = scrub(stack)

    assert (code, report["fine"]) == (1, 1)
    assert [m["image_id"] for m in report["missing"]] == [image_id]
    assert report["orphans"]["rows_without_bytes"] == [image_id]
    assert report["corrupt"] == [] and report["unreadable"] == []
    assert_refused(stack, owner, image_id, MISSING, "데이터")
    assert stack.request("DELETE", f"/v1/images/{image_id}", owner).status_code < 300
    assert scrub(stack)[0] == 0


def test_orphans_both_ways_but_never_an_upload_in_flight(stored: Stored, disk: Path, tmp_path: Path) -> None:
    stack = stored.stack
    owner = stack.new_account("owner")
    publish(stack, disk, owner.account_id)
    stray = f"images/{uuid.uuid4()}/left-behind"
    stored.write(stray, b"bytes whose row was deleted by a crash")

    big = tmp_path / "big.qcow2"  # past the S3 store's first part: its multipart upload is open
    run("qemu-img", "create", "-q", "-f", "qcow2", str(big), "64M")
    run("qemu-io", "-c", "write -P 0x3c 0 24M", str(big))
    data = big.read_bytes()
    body = {"name": "in-flight", "os_distro": "ubuntu"}
    created = stack.request("POST", "/v1/images", owner, params={"source": "upload"}, json=body)
    sock, _ = signed_put(stack.base_url, f"/v2/images/{created.json()['id']}/file", owner, len(data))
    try:
        sock.sendall(data[: 20 * MiB])
        wait_until(lambda: any(stack.components.blobs.staged()), what="the staged upload", timeout=60)

        code, report = scrub(stack)

        assert code == 1
        assert [o["key"] for o in report["orphans"]["bytes_without_rows"]] == [stray]
        assert report["fine"] == 1 and report["missing"] == []
        sock.sendall(data[20 * MiB :])
        assert read_status(sock) == 204
    finally:
        sock.close()
    stored.delete(stray)
    assert scrub(stack)[1]["ok"] is True


def test_an_unmounted_filesystem_store_is_unreadable_not_missing(stack: Stack, disk: Path) -> None:
    """A vanished mount point looks like missing files, and the scrub's own process makes the store's
    directory again (empty): a store holding no image's data at all is not believed."""
    owner = stack.new_account("owner")
    image_ids = {str(publish(stack, disk, owner.account_id, name=f"i{n}")["id"]) for n in range(2)}
    root = Path(stack.components.blobs.root)  # type: ignore[attr-defined]
    away = root.with_name("blobs-away")
    root.rename(away)
    try:
        code, report = scrub(stack, "--retries", "0")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        away.rename(root)

    assert code == 1
    assert {u["image_id"] for u in report["unreadable"]} == image_ids
    assert report["missing"] == [] and report["corrupt"] == []
    for image_id in image_ids:  # no flag was set
        assert file_of(stack, owner, image_id).content == disk.read_bytes()
    assert scrub(stack)[0] == 0


def test_an_s3_outage_is_unreadable_not_missing(settings: Settings, disk: Path) -> None:
    """moto, because the test stops the store itself (the shared SeaweedFS serves other tests)."""
    endpoint, stop = start_moto_server()
    bucket = f"blobs-{uuid.uuid4().hex[:16]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    stack = start_stack(s3_settings(settings, endpoint, blob_url=f"s3://{bucket}/store"))
    try:
        owner = stack.new_account("owner")
        image_id = str(publish(stack, disk, owner.account_id)["id"])
        stop()
        code, report = scrub(stack, "--retries", "0")
        assert code == 1
        assert [u["image_id"] for u in report["unreadable"]] == [image_id]
        assert report["missing"] == [] and report["orphans"]["looked"] is False
        with stack.components.db.read() as conn:
            image = image_store.get_image(conn, image_id)
        assert image is not None and image.data_flag is None
    finally:
        stack.stop()
        stop()


def test_scrub_of_an_unknown_image_is_an_error(stack: Stack) -> None:
    done = admin(stack.settings, "scrub", "--image", str(uuid.uuid4()))
    assert done.exit_code == 1 and "virtualserver.image.NotFound" in done.stderr
