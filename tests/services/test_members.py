"""Sharing through the member service: share, add, answer (accept, reject), pending, remove."""

from __future__ import annotations

import pytest

from scp_images.domain.errors import (
    AccountNotFound,
    Conflict,
    ImageNotFound,
    ImageNotShared,
    InvalidImageStatus,
    MemberExists,
    MemberNotFound,
    NotOwner,
    NotTheMember,
)
from scp_images.domain.image import ImageStatus, Visibility
from scp_images.domain.listing import ListQuery
from scp_images.domain.member import MemberStatus
from scp_images.domain.principal import Principal
from tests.services.conftest import active, create, shared_with
from tests.support.services import Services


def listed(services: Services, caller: Principal) -> set[str]:
    return {image.id for image in services.parts.images.list_visible(caller, ListQuery())}


def pending(services: Services, caller: Principal) -> set[str]:
    return {image.id for image in services.parts.images.pending(caller, ListQuery())}


def test_share_makes_an_active_image_shared(services: Services, owner: Principal) -> None:
    image = active(services, owner)
    services.members.share(owner, image.id)
    assert services.parts.images.show(owner, image.id).visibility is Visibility.SHARED


def test_only_an_active_image_of_ones_own_can_be_shared(
    services: Services, owner: Principal, other: Principal
) -> None:
    queued = create(services, owner)
    with pytest.raises(InvalidImageStatus):
        services.members.share(owner, queued.id)
    assert services.parts.images.show(owner, queued.id).visibility is Visibility.PRIVATE
    mine = active(services, owner)
    with pytest.raises(ImageNotFound):
        services.members.share(other, mine.id)


def test_a_member_is_added_pending_and_sees_the_image_only_once_accepted_in_lists(
    services: Services, owner: Principal, other: Principal
) -> None:
    image = shared_with(services, owner, other)
    member = services.members.get(owner, image.id, other.account_id)
    assert (member.member_id, member.status) == (other.account_id, MemberStatus.PENDING)
    assert services.parts.images.show(other, image.id).id == image.id  # a member in any status may show
    assert image.id not in listed(services, other)
    assert pending(services, other) == {image.id}

    accepted = services.members.set_status(other, image.id, other.account_id, MemberStatus.ACCEPTED)
    assert accepted.status is MemberStatus.ACCEPTED
    assert services.members.get(owner, image.id, other.account_id).status is MemberStatus.ACCEPTED
    assert image.id in listed(services, other)
    assert pending(services, other) == set()


def test_a_rejected_share_stays_out_of_lists_and_can_be_accepted_later(
    services: Services, owner: Principal, other: Principal
) -> None:
    image = shared_with(services, owner, other)
    services.members.set_status(other, image.id, other.account_id, MemberStatus.REJECTED)
    assert image.id not in listed(services, other) and pending(services, other) == set()
    assert services.parts.images.show(other, image.id).id == image.id
    services.members.set_status(other, image.id, other.account_id, MemberStatus.ACCEPTED)
    assert image.id in listed(services, other)


def test_only_the_member_answers_for_itself(services: Services, owner: Principal, other: Principal) -> None:
    image = shared_with(services, owner, other)
    third = services.account("third")
    with pytest.raises(NotTheMember):
        services.members.set_status(owner, image.id, other.account_id, MemberStatus.ACCEPTED)
    with pytest.raises(ImageNotFound):
        services.members.set_status(third, image.id, other.account_id, MemberStatus.ACCEPTED)
    assert services.members.get(other, image.id, other.account_id).status is MemberStatus.PENDING


def test_the_owner_sees_every_member_and_a_member_only_itself(
    services: Services, owner: Principal, other: Principal
) -> None:
    image = shared_with(services, owner, other)
    third = services.account("third")
    services.members.add(owner, image.id, third.account_id)
    assert {m.member_id for m in services.members.list(owner, image.id)} == {
        other.account_id,
        third.account_id,
    }
    assert [m.member_id for m in services.members.list(other, image.id)] == [other.account_id]
    with pytest.raises(MemberNotFound):
        services.members.get(other, image.id, third.account_id)


def test_members_are_refused_on_an_image_not_shared_twice_the_owner_or_unknown(
    services: Services, owner: Principal, other: Principal
) -> None:
    private = active(services, owner)
    with pytest.raises(ImageNotShared):
        services.members.add(owner, private.id, other.account_id)
    image = shared_with(services, owner, other)
    with pytest.raises(MemberExists):
        services.members.add(owner, image.id, other.account_id)
    with pytest.raises(Conflict):
        services.members.add(owner, image.id, owner.account_id)
    with pytest.raises(AccountNotFound):
        services.members.add(owner, image.id, "f" * 32)
    with pytest.raises(NotOwner):  # the member sees the image but does not own it
        services.members.add(other, image.id, services.account("third").account_id)
    assert [m.member_id for m in services.members.list(owner, image.id)] == [other.account_id]


def test_a_removed_member_loses_the_image(services: Services, owner: Principal, other: Principal) -> None:
    image = shared_with(services, owner, other)
    services.members.set_status(other, image.id, other.account_id, MemberStatus.ACCEPTED)
    with pytest.raises(NotOwner):
        services.members.remove(other, image.id, other.account_id)
    services.members.remove(owner, image.id, other.account_id)
    with pytest.raises(ImageNotFound):
        services.parts.images.show(other, image.id)
    assert listed(services, other) == set()
    with pytest.raises(MemberNotFound):
        services.members.remove(owner, image.id, other.account_id)


def test_a_member_can_download_a_shared_image(services: Services, owner: Principal, other: Principal) -> None:
    image = shared_with(services, owner, other)
    download = services.parts.images.download(other, image.id)
    assert download.image.status is ImageStatus.ACTIVE
    assert b"".join(download.read(0, None)) == b"".join(
        services.parts.images.download(owner, image.id).read(0, None)
    )
