"""Background imports from object storage (``s3://`` on SeaweedFS) followed with ``wait``."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scp_images.client import ConflictError, ImageKilled, ImportSource, ImportStatus, PermissionDeniedError
from tests.support.stack import Stack


def test_create_from_url_imports_in_the_background(
    s3_stack: Stack, s3_bucket: Any, make_qcow2: Callable[..., Path]
) -> None:
    path = make_qcow2("disk.qcow2", "64M")
    s3_bucket.put("images/disk.qcow2", path)
    url = f"s3://{s3_bucket.name}/images/disk.qcow2"
    seen: list[ImportStatus] = []
    importer = s3_stack.new_account("importer")
    s3_stack.grant(importer, s3_bucket.name, "images")
    with s3_stack.client(importer) as client:
        image = client.images.create("from-s3", "ubuntu", url, min_ram=1, protected=True)
        assert image.status == "queued" and image.url == url and image.protected

        active = client.images.wait(image.id, timeout=60, interval=0.05, on_progress=seen.append)

        assert active.status == "active"
        assert active.checksum == hashlib.md5(path.read_bytes()).hexdigest()
        assert all(s.image_id == image.id and s.url == url for s in seen)
        assert seen[-1].status == "succeeded"  # the last poll reports the finished import too
        record = client.images.import_status(image.id)
        assert (record.status, record.bytes_read, record.bytes_total) == (
            "succeeded",
            path.stat().st_size,
            path.stat().st_size,
        )
        with pytest.raises(ConflictError):
            client.images.import_(image.id, url)


def test_a_missing_object_kills_the_image_and_it_can_be_imported_again(
    s3_stack: Stack, s3_bucket: Any, make_qcow2: Callable[..., Path]
) -> None:
    importer = s3_stack.new_account("importer")
    s3_stack.grant(importer, s3_bucket.name)
    with s3_stack.client(importer) as client:
        image = client.images.create("missing", "ubuntu", f"s3://{s3_bucket.name}/nothing-here.qcow2")
        with pytest.raises(ImageKilled) as killed:
            client.images.wait(image.id, timeout=60, interval=0.05)
        assert "does not exist" in (killed.value.reason or "")
        assert client.images.import_status(image.id).status == "failed"

        path = make_qcow2("late.qcow2", "8M")
        s3_bucket.put("late.qcow2", path)
        client.images.import_(image.id, f"s3://{s3_bucket.name}/late.qcow2")
        assert client.images.wait(image.id, timeout=60, interval=0.05).size == path.stat().st_size


def test_import_sources_and_a_refused_source(
    s3_stack: Stack, s3_bucket: Any, make_qcow2: Callable[..., Path]
) -> None:
    importer, stranger = s3_stack.new_account("importer"), s3_stack.new_account("stranger")
    s3_stack.grant(importer, s3_bucket.name, "team/a/")
    s3_stack.grant(stranger, "stranger-bucket")
    path = make_qcow2("disk.qcow2", "8M")
    s3_bucket.put("team/ab/disk.qcow2", path)
    with s3_stack.client(importer, language="ko-KR") as client:
        (grant,) = client.images.import_sources()
        assert isinstance(grant, ImportSource)
        assert (grant.account_id, grant.bucket, grant.prefix) == (
            importer.account_id,
            s3_bucket.name,
            "team/a",
        )
        assert grant.raw == {"account_id": importer.account_id, "bucket": s3_bucket.name, "prefix": "team/a"}
        with pytest.raises(PermissionDeniedError) as refused:
            client.images.create("outside", "ubuntu", f"s3://{s3_bucket.name}/team/ab/disk.qcow2")
        assert refused.value.status == 403
        assert refused.value.code == "virtualserver.image.ImportSourceForbidden"
        assert refused.value.detail.startswith(f"이 계정은 s3://{s3_bucket.name}/team/ab/disk.qcow2을(를)")
        assert client.images.list() == []  # nothing was created
    with s3_stack.client(s3_stack.new_account("nobody")) as client:
        assert client.images.import_sources() == []
