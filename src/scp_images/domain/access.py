"""Who may see and change an image: the one place these rules live.

Show follows Glance: the owner always; anyone for public and community images; a member (in any
status) for a shared image. Everyone else gets 404 so that existence does not leak. Only the owner
changes an image. Listing uses :func:`list_scope`, which the store turns into SQL.

``admin`` is Glance's admin (``Principal.is_admin``: an admin key on the OpenStack edge): it sees every
image and changes any, as the owner would.
"""

from __future__ import annotations

from dataclasses import dataclass

from scp_images.domain.errors import ImageDeactivated, ImageNotFound, NotOwner
from scp_images.domain.image import Image, ImageStatus, Visibility
from scp_images.domain.listing import ACCEPTED_ONLY
from scp_images.domain.member import MemberStatus


def can_see(
    image: Image, account_id: str, member_status: MemberStatus | None, *, admin: bool = False
) -> bool:
    if admin or image.owner == account_id:
        return True
    if image.visibility in (Visibility.PUBLIC, Visibility.COMMUNITY):
        return True
    return image.visibility is Visibility.SHARED and member_status is not None


def require_visible(
    image: Image | None,
    image_id: str,
    account_id: str,
    member_status: MemberStatus | None,
    *,
    admin: bool = False,
) -> Image:
    if image is None or not can_see(image, account_id, member_status, admin=admin):
        raise ImageNotFound(image_id=image_id)
    return image


def require_owner(image: Image, account_id: str, *, admin: bool = False) -> None:
    if not admin and image.owner != account_id:
        raise NotOwner(image_id=image.id)


def require_downloadable(image: Image, *, admin: bool = False) -> None:
    """A deactivated image's bytes are withheld from everyone but an admin (Glance's rule)."""
    if image.status is ImageStatus.DEACTIVATED and not admin:
        raise ImageDeactivated(image_id=image.id)


def downloadable_statuses(*, admin: bool = False) -> frozenset[ImageStatus]:
    return _ADMIN_DOWNLOADABLE if admin else _DOWNLOADABLE


_DOWNLOADABLE = frozenset({ImageStatus.ACTIVE})
_ADMIN_DOWNLOADABLE = frozenset({ImageStatus.ACTIVE, ImageStatus.DEACTIVATED})


@dataclass(frozen=True, slots=True)
class ListScope:
    """The sets of images a list may draw from; the store ORs the ones that are set."""

    account_id: str
    own_visibilities: frozenset[Visibility] | None  # None: own images of every visibility
    include_own: bool
    public: bool
    community: bool
    shared_member_statuses: frozenset[MemberStatus]
    every_owner: frozenset[Visibility] = frozenset()  # an admin's: these visibilities of every account


def list_scope(
    account_id: str,
    visibility: Visibility | None,
    member_statuses: frozenset[MemberStatus] = ACCEPTED_ONLY,
    *,
    every_visibility: bool = False,
    admin: bool = False,
) -> ListScope:
    """Glance's list rules: by default own + public + shared-with-me in ``member_statuses`` (accepted
    unless asked); community only on request (visibility=community, or all). As in Glance,
    ``member_statuses`` picks only among images shared with the caller: own and public images are listed
    whatever it says, and with visibility=shared the caller's own shared images stay beside the
    shared-with-me ones. An admin lists every account's images (see :func:`admin_scope`)."""
    if admin:
        return admin_scope(account_id, visibility, every_visibility=every_visibility)
    if visibility is None:
        # visibility=all adds every community image (Glance); the default list leaves others' out.
        return ListScope(account_id, None, True, True, every_visibility, member_statuses)
    if visibility is Visibility.SHARED:
        return ListScope(account_id, frozenset({Visibility.SHARED}), True, False, False, member_statuses)
    if visibility is Visibility.PRIVATE:
        return ListScope(account_id, frozenset({Visibility.PRIVATE}), True, False, False, frozenset())
    return ListScope(
        account_id,
        frozenset({visibility}),
        False,
        visibility is Visibility.PUBLIC,
        visibility is Visibility.COMMUNITY,
        frozenset(),
    )


_NOT_COMMUNITY = frozenset(Visibility) - {Visibility.COMMUNITY}


def admin_scope(account_id: str, visibility: Visibility | None, *, every_visibility: bool) -> ListScope:
    """Glance's admin list: every account's images, whatever their membership (``member_status`` picks
    nothing); by default all but other accounts' community images (its own stay), with
    ``visibility=all`` every image, with a visibility every image of that visibility."""
    if visibility is not None:
        return ListScope(account_id, frozenset(), False, False, False, frozenset(), frozenset({visibility}))
    every = frozenset(Visibility) if every_visibility else _NOT_COMMUNITY
    return ListScope(account_id, None, True, False, False, frozenset(), every)


def pending_scope(account_id: str) -> ListScope:
    """Images shared with the caller that it has not answered yet."""
    return ListScope(account_id, frozenset(), False, False, False, frozenset({MemberStatus.PENDING}))
