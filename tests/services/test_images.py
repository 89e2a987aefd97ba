"""Image create, show, list, update and delete through the image service, across two accounts."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from scp_images.domain.errors import ImageNotFound, ImageProtected, InvalidRequest, NotOwner
from scp_images.domain.image import ImageStatus, Visibility
from scp_images.domain.listing import ListQuery
from scp_images.domain.principal import Principal
from scp_images.services.data.ingest import PublishRequest
from tests.services.conftest import create
from tests.support.services import Services


def listed(services: Services, caller: Principal, **query: Any) -> set[str]:
    return {image.id for image in services.parts.images.list_visible(caller, ListQuery(**query))}


def published(services: Services, owner: Principal, visibility: Visibility, make_qcow2: Any) -> str:
    """An operator's qcow2 image of ``owner``'s with ``visibility`` (an account cannot make one public)."""
    path = make_qcow2(f"{visibility.value}.qcow2", "1M", data=False)
    request = PublishRequest(str(path), visibility.value, "ubuntu", owner.account_id, visibility=visibility)
    return services.parts.ingest.publish_file(request).id


def test_a_created_image_is_queued_private_and_the_callers(services: Services, owner: Principal) -> None:
    made = create(services, owner, "first", min_disk=10, tags=("a",))
    shown = services.parts.images.show(owner, made.id)
    assert shown == made
    assert (shown.status, shown.visibility, shown.owner) == (
        ImageStatus.QUEUED,
        Visibility.PRIVATE,
        owner.account_id,
    )
    assert (shown.name, shown.min_disk, shown.tags, shown.size) == ("first", 10, ("a",), None)


def test_another_accounts_private_image_does_not_exist_for_the_caller(
    services: Services, owner: Principal, other: Principal
) -> None:
    made = create(services, owner)
    with pytest.raises(ImageNotFound):  # not NotOwner: existence does not leak
        services.parts.images.show(other, made.id)
    with pytest.raises(ImageNotFound):
        services.parts.images.update(other, made.id, {"min_disk": 5})
    with pytest.raises(ImageNotFound):
        services.parts.images.delete(other, made.id)
    assert listed(services, other) == set()
    assert listed(services, owner) == {made.id}
    assert services.parts.images.show(owner, made.id).min_disk == 0


def test_public_images_are_seen_by_all_and_changed_by_their_owner_only(
    services: Services, owner: Principal, other: Principal, make_qcow2: Any
) -> None:
    public = published(services, owner, Visibility.PUBLIC, make_qcow2)
    assert services.parts.images.show(other, public).status is ImageStatus.ACTIVE
    assert listed(services, other) == {public}
    with pytest.raises(NotOwner):
        services.parts.images.update(other, public, {"min_disk": 5})
    with pytest.raises(NotOwner):
        services.parts.images.delete(other, public)
    assert services.parts.images.show(owner, public).min_disk == 0


def test_community_images_are_listed_only_when_asked_for(
    services: Services, owner: Principal, other: Principal, make_qcow2: Any
) -> None:
    community = published(services, owner, Visibility.COMMUNITY, make_qcow2)
    assert services.parts.images.show(other, community).id == community
    assert listed(services, other) == set()
    assert listed(services, other, visibility=Visibility.COMMUNITY) == {community}
    assert listed(services, other, every_visibility=True) == {community}


def test_list_filters_by_visibility_and_pages_with_a_marker(services: Services, owner: Principal) -> None:
    made = [create(services, owner, f"n{i}").id for i in range(5)]
    shared = create(services, owner, "s", visibility=Visibility.SHARED).id
    assert listed(services, owner, visibility=Visibility.PRIVATE) == set(made)
    assert listed(services, owner, visibility=Visibility.SHARED) == {shared}
    first = [i.id for i in services.parts.images.list_visible(owner, ListQuery(limit=4))]
    rest = [i.id for i in services.parts.images.list_visible(owner, ListQuery(limit=4, marker=first[-1]))]
    assert len(first) == 4 and len(rest) == 2
    assert set(first) | set(rest) == {*made, shared}


def test_a_marker_the_caller_cannot_see_is_refused(
    services: Services, owner: Principal, other: Principal
) -> None:
    hidden = create(services, owner).id
    with pytest.raises(InvalidRequest):
        services.parts.images.list_visible(other, ListQuery(marker=hidden))


def test_update_stores_the_changes_and_returns_the_image_as_stored(
    services: Services, owner: Principal
) -> None:
    made = create(services, owner)
    changes = {"min_disk": 20, "min_ram": 512, "protected": True, "visibility": Visibility.SHARED}
    updated = services.parts.images.update(owner, made.id, changes)
    assert updated == services.parts.images.show(owner, made.id)
    assert (updated.min_disk, updated.min_ram, updated.protected, updated.visibility) == (
        20,
        512,
        True,
        Visibility.SHARED,
    )
    assert updated.updated_at >= made.updated_at


@pytest.mark.parametrize(
    "changes",
    [
        {"size": 1},  # not a field a caller changes
        {"min_disk": -1},
        {"visibility": Visibility.PUBLIC},  # only the operator publishes
        {"name": "n" * 1000},
    ],
)
def test_a_refused_update_changes_nothing(
    services: Services, owner: Principal, changes: dict[str, object]
) -> None:
    made = create(services, owner)
    with pytest.raises(InvalidRequest):
        services.parts.images.update(owner, made.id, changes)
    assert services.parts.images.show(owner, made.id) == made


def test_a_protected_image_is_kept_until_unprotected(services: Services, owner: Principal) -> None:
    made = create(services, owner, protected=True)
    with pytest.raises(ImageProtected):
        services.parts.images.delete(owner, made.id)
    assert services.parts.images.show(owner, made.id).protected
    services.parts.images.update(owner, made.id, {"protected": False})
    services.parts.images.delete(owner, made.id)
    with pytest.raises(ImageNotFound):
        services.parts.images.show(owner, made.id)
    assert listed(services, owner) == set()


@pytest.mark.parametrize("image_id", ["", "not-an-id", "../etc/passwd", "0" * 36])
def test_a_malformed_or_unknown_id_is_refused_or_not_found(
    services: Services, owner: Principal, image_id: str
) -> None:
    with pytest.raises((InvalidRequest, ImageNotFound)):
        services.parts.images.show(owner, image_id)


def test_a_show_sees_every_change_at_once_from_any_thread(services: Services, owner: Principal) -> None:
    """The show reads on a connection of its thread's own, kept open (SQLite): it holds no snapshot
    between shows, so each change is seen by the next show, in this thread and in others."""
    made = create(services, owner, "before")
    images = services.parts.images
    assert images.show(owner, made.id).name == "before"
    for name in ("after", "again"):
        images.update(owner, made.id, {"name": name})
        assert images.show(owner, made.id).name == name
        seen: list[str] = []
        thread = threading.Thread(target=lambda into=seen: into.append(images.show(owner, made.id).name))
        thread.start()
        thread.join()
        assert seen == [name]
    services.parts.db.dispose()  # closes every thread's connection; the next show opens another
    assert images.show(owner, made.id).name == "again"
    images.delete(owner, made.id)
    with pytest.raises(ImageNotFound):
        images.show(owner, made.id)
