"""The image status machine walked through the services: upload, refusal, interruption, staging,
deactivation, deletion; what the caller is told and what is stored."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from scp_images.domain.errors import (
    DiskImageRejected,
    ImageDeactivated,
    ImageNotFound,
    InvalidImageStatus,
    UploadInterrupted,
)
from scp_images.domain.image import ImageStatus
from scp_images.domain.jobs import JobStatus
from scp_images.domain.principal import Principal
from tests.conftest import qemu_virtual_size
from tests.services.conftest import DISK, active, create
from tests.support.services import Services


def downloaded(services: Services, caller: Principal, image_id: str) -> bytes:
    return b"".join(services.parts.images.download(caller, image_id).read(0, None))


def test_an_upload_claims_the_queued_image_and_publishes_the_bytes(
    services: Services, owner: Principal
) -> None:
    image = create(services, owner, disk_format="raw")
    fence = services.parts.images.begin_upload(owner, image.id, "tests:upload", total=len(DISK))
    assert services.parts.images.show(owner, image.id).status is ImageStatus.IMPORTING
    with pytest.raises(InvalidImageStatus):  # one upload wins
        services.parts.images.begin_upload(owner, image.id, "tests:second")
    result = services.parts.ingest.ingest_or_kill(fence, [DISK[:100], DISK[100:]], reraise=True)
    assert result is not None and result.size == len(DISK)
    shown = services.parts.images.show(owner, image.id)
    assert (shown.status, shown.size, shown.checksum) == (
        ImageStatus.ACTIVE,
        len(DISK),
        hashlib.md5(DISK).hexdigest(),
    )
    assert downloaded(services, owner, image.id) == DISK
    job = services.parts.images.import_status(owner, image.id)
    assert (job.status, job.bytes_read, job.bytes_total) == (JobStatus.SUCCEEDED, len(DISK), len(DISK))


def test_a_qcow2_upload_records_its_virtual_size(
    services: Services, owner: Principal, make_qcow2: Any
) -> None:
    path = make_qcow2("small.qcow2", "8M")
    image = create(services, owner)  # qcow2 by default
    services.upload(owner, image.id, [path.read_bytes()])
    shown = services.parts.images.show(owner, image.id)
    assert (shown.status, shown.disk_format, shown.virtual_size) == (
        ImageStatus.ACTIVE,
        "qcow2",
        qemu_virtual_size(path),
    )
    assert shown.size == path.stat().st_size
    assert downloaded(services, owner, image.id) == path.read_bytes()


def test_bytes_that_are_not_the_announced_format_kill_the_image(services: Services, owner: Principal) -> None:
    image = create(services, owner)  # qcow2 announced, raw bytes sent
    with pytest.raises(DiskImageRejected):
        services.upload(owner, image.id, [DISK])
    shown = services.parts.images.show(owner, image.id)
    assert (shown.status, shown.size, shown.blob_key) == (ImageStatus.KILLED, None, None)
    job = services.parts.images.import_status(owner, image.id)
    assert job.status is JobStatus.FAILED and job.reason
    assert list(services.parts.blobs.blobs()) == []
    with pytest.raises(InvalidImageStatus):  # nothing to download
        services.parts.images.download(owner, image.id)
    with pytest.raises(InvalidImageStatus):  # a direct upload needs a queued image
        services.parts.images.begin_upload(owner, image.id, "tests:again")


def test_an_interrupted_upload_queues_the_image_again_for_a_new_attempt(
    services: Services, owner: Principal
) -> None:
    image = create(services, owner, disk_format="raw")

    def cut_short() -> Iterator[bytes]:
        yield DISK[:1000]
        raise UploadInterrupted(reason="the client disconnected")

    with pytest.raises(UploadInterrupted):
        services.upload(owner, image.id, cut_short())
    assert services.parts.images.show(owner, image.id).status is ImageStatus.QUEUED
    job = services.parts.images.import_status(owner, image.id)
    assert job.status is JobStatus.FAILED and job.reason is not None and job.reason.startswith("interrupted")
    services.upload(owner, image.id, [DISK])
    assert downloaded(services, owner, image.id) == DISK


def test_a_staged_upload_waits_in_uploading_until_the_import_call(
    services: Services, owner: Principal
) -> None:
    image = create(services, owner, disk_format="raw")
    fence = services.parts.images.begin_upload(owner, image.id, "tests:stage")
    services.parts.ingest.ingest_or_kill(fence, [DISK], reraise=True, target=ImageStatus.UPLOADING)
    assert services.parts.images.show(owner, image.id).status is ImageStatus.UPLOADING
    with pytest.raises(InvalidImageStatus):
        services.parts.images.download(owner, image.id)
    services.parts.images.finish_staged(owner, image.id)
    assert services.parts.images.show(owner, image.id).status is ImageStatus.ACTIVE
    with pytest.raises(InvalidImageStatus):  # only once
        services.parts.images.finish_staged(owner, image.id)


def test_a_deactivated_image_withholds_its_bytes_until_reactivated(
    services: Services, owner: Principal
) -> None:
    image = active(services, owner)
    deactivated = services.parts.images.set_deactivated(owner, image.id, True)
    assert deactivated.status is ImageStatus.DEACTIVATED
    with pytest.raises(ImageDeactivated):
        services.parts.images.download(owner, image.id)
    assert services.parts.images.set_deactivated(owner, image.id, True).status is ImageStatus.DEACTIVATED
    assert services.parts.images.set_deactivated(owner, image.id, False).status is ImageStatus.ACTIVE
    assert downloaded(services, owner, image.id) == DISK


def test_only_an_active_image_can_be_deactivated(services: Services, owner: Principal) -> None:
    queued = create(services, owner)
    with pytest.raises(InvalidImageStatus):
        services.parts.images.set_deactivated(owner, queued.id, True)
    assert services.parts.images.show(owner, queued.id).status is ImageStatus.QUEUED


def test_deleting_an_active_image_removes_its_bytes(services: Services, owner: Principal) -> None:
    image = active(services, owner)
    assert len(list(services.parts.blobs.blobs())) == 1
    services.parts.images.delete(owner, image.id)
    with pytest.raises(ImageNotFound):
        services.parts.images.show(owner, image.id)
    assert list(services.parts.blobs.blobs()) == []
