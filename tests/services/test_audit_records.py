"""Every change made through the services leaves its audit record, written with the change; a refused
change leaves the trail as it was (refusals are recorded by the edge that answers them)."""

from __future__ import annotations

import pytest

from scp_images.domain.audit import ActorKind, AuditRecord
from scp_images.domain.errors import ImageNotFound, ImageProtected
from scp_images.domain.member import MemberStatus
from scp_images.domain.principal import Principal
from scp_images.domain.quotas import Overrides
from scp_images.services.audit import AuditQuery
from tests.services.conftest import DISK, active, create
from tests.support.services import Services


def trail(
    services: Services, image_id: str | None = None, account_id: str | None = None
) -> list[AuditRecord]:
    """Oldest first."""
    query = AuditQuery(account_id=account_id, image_id=image_id, limit=1000)
    return list(reversed(services.parts.audit.list(query)))


def summary(records: list[AuditRecord]) -> list[tuple[str, ActorKind, str | None]]:
    return [(r.action, r.actor_kind, r.account_id) for r in records]


def test_an_images_life_is_recorded_in_order(services: Services, owner: Principal) -> None:
    image = create(services, owner, disk_format="raw")
    services.parts.images.update(owner, image.id, {"min_disk": 7})
    services.upload(owner, image.id, [DISK])
    services.parts.images.delete(owner, image.id)
    records = trail(services, image.id)
    assert [r.action for r in records] == ["image.create", "image.update", "import.publish", "image.delete"]
    by_caller = [r for r in records if r.action != "import.publish"]
    assert {(r.actor_kind, r.account_id, r.access_key) for r in by_caller} == {
        (ActorKind.API, owner.account_id, owner.access_key)
    }
    assert records[1].detail == "min_disk=7"
    published = records[2]
    assert (published.actor_kind, published.actor) == (ActorKind.WORKER, "tests:upload")
    assert published.detail is not None and published.detail.startswith(f"{len(DISK)} bytes")


def test_sharing_is_recorded_with_the_member_and_its_answer(
    services: Services, owner: Principal, other: Principal
) -> None:
    image = active(services, owner)
    services.members.share(owner, image.id)
    services.members.add(owner, image.id, other.account_id)
    services.members.set_status(other, image.id, other.account_id, MemberStatus.ACCEPTED)
    services.members.remove(owner, image.id, other.account_id)
    sharing = [r for r in trail(services, image.id) if r.action.startswith(("image.share", "member."))]
    assert [(r.action, r.account_id, r.member_id, r.detail) for r in sharing] == [
        ("image.share", owner.account_id, None, None),
        ("member.add", owner.account_id, other.account_id, None),
        ("member.status", other.account_id, other.account_id, "accepted"),
        ("member.remove", owner.account_id, other.account_id, None),
    ]


def test_a_refused_change_writes_no_record(services: Services, owner: Principal, other: Principal) -> None:
    image = create(services, owner, protected=True)
    before = trail(services)
    with pytest.raises(ImageNotFound):
        services.parts.images.update(other, image.id, {"min_disk": 1})
    with pytest.raises(ImageProtected):
        services.parts.images.delete(owner, image.id)
    assert trail(services) == before


def test_operator_changes_are_recorded_as_the_operator(services: Services, owner: Principal) -> None:
    services.parts.quotas.set(owner.account_id, Overrides(images=3))
    services.parts.quotas.reset(owner.account_id)
    records = trail(services, account_id=owner.account_id)
    assert summary(records) == [
        ("account.create", ActorKind.OPERATOR, owner.account_id),
        ("key.create", ActorKind.OPERATOR, owner.account_id),
        ("quota.set", ActorKind.OPERATOR, owner.account_id),
        ("quota.reset", ActorKind.OPERATOR, owner.account_id),
    ]
    assert records[2].detail == "images=3 bytes=None uploading=None"
