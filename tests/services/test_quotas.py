"""Quota refusals through the services: what is refused, that nothing is stored, and the operator's lift."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from scp_images.domain.errors import ImageCountQuotaExceeded, ImageSizeQuotaExceeded, UploadingQuotaExceeded
from scp_images.domain.image import ImageStatus
from scp_images.domain.jobs import JobStatus
from scp_images.domain.listing import ListQuery
from scp_images.domain.principal import Principal
from scp_images.domain.quotas import UNLIMITED, Overrides
from tests.services.conftest import DISK, create
from tests.support.services import Services


def count(services: Services, caller: Principal) -> int:
    return len(services.parts.images.list_visible(caller, ListQuery()))


def test_the_image_count_quota_refuses_one_more_and_stores_nothing(
    make_services: Callable[..., Services],
) -> None:
    services = make_services(quota_image_count_total=2)
    owner, other = services.account("owner"), services.account("other")
    create(services, owner)
    create(services, owner)
    with pytest.raises(ImageCountQuotaExceeded) as refused:
        create(services, owner)
    assert (refused.value.params["limit"], refused.value.params["usage"]) == (2, 2)
    assert count(services, owner) == 2
    create(services, other)  # each account has its own count
    assert services.parts.quotas.show(owner.account_id).usage.images == 2


def test_an_operators_override_lifts_the_default_and_a_reset_restores_it(
    make_services: Callable[..., Services],
) -> None:
    services = make_services(quota_image_count_total=1)
    owner = services.account("owner")
    create(services, owner)
    report = services.parts.quotas.set(owner.account_id, Overrides(images=UNLIMITED))
    assert report.limits.images is None
    create(services, owner)
    services.parts.quotas.reset(owner.account_id)
    with pytest.raises(ImageCountQuotaExceeded):
        create(services, owner)
    assert count(services, owner) == 2


def test_the_uploading_quota_refuses_a_second_upload_at_once(make_services: Callable[..., Services]) -> None:
    services = make_services(quota_image_count_uploading=1)
    owner = services.account("owner")
    first, second = create(services, owner, disk_format="raw"), create(services, owner, disk_format="raw")
    services.parts.images.begin_upload(owner, first.id, "tests:first")
    with pytest.raises(UploadingQuotaExceeded):
        services.parts.images.begin_upload(owner, second.id, "tests:second")
    assert services.parts.images.show(owner, second.id).status is ImageStatus.QUEUED


def test_bytes_past_the_size_quota_are_refused_and_the_upload_killed(
    make_services: Callable[..., Services],
) -> None:
    services = make_services(quota_image_size_total=1000, quota_step_bytes=256)
    owner = services.account("owner")
    image = create(services, owner, disk_format="raw")
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(DISK), 100):
            sent.append(start)
            yield DISK[start : start + 100]

    with pytest.raises(ImageSizeQuotaExceeded):
        services.upload(owner, image.id, chunks())
    assert len(sent) * 100 <= 1100  # refused at the chunk that passed the limit, not at the end
    shown = services.parts.images.show(owner, image.id)
    assert (shown.status, shown.size, shown.blob_key) == (ImageStatus.KILLED, None, None)
    job = services.parts.images.import_status(owner, image.id)
    assert job.status is JobStatus.FAILED
    assert list(services.parts.blobs.blobs()) == []
    assert services.parts.quotas.show(owner.account_id).usage.bytes == 0


def test_an_upload_within_the_size_quota_counts_against_it(make_services: Callable[..., Services]) -> None:
    services = make_services(quota_image_size_total=len(DISK) + 10)
    owner = services.account("owner")
    image = create(services, owner, disk_format="raw")
    services.upload(owner, image.id, [DISK])
    assert services.parts.quotas.show(owner.account_id).usage.bytes == len(DISK)
    second = create(services, owner, disk_format="raw")
    with pytest.raises(ImageSizeQuotaExceeded):
        services.upload(owner, second.id, [DISK])
    assert services.parts.images.show(owner, second.id).status is ImageStatus.KILLED
