"""The role rules in the domain, directly: what a reader may do, when an admin has powers, and the admin's
list scope as Glance's admin list (every account, others' community images only when asked)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scp_images.domain.access import admin_scope, downloadable_statuses, list_scope, require_downloadable
from scp_images.domain.errors import Forbidden, ImageDeactivated, ReaderMayNot
from scp_images.domain.image import ImageSpec, ImageStatus, Visibility, new_image
from scp_images.domain.member import MemberStatus
from scp_images.domain.principal import READ_ACTIONS, Action, Principal, Role


def _principal(role: Role, *, denied: frozenset[Action] = frozenset(), powers: bool = True) -> Principal:
    return Principal("a" * 32, "acct", "u", "AK", denied, role, powers)


@given(
    st.sampled_from(list(Action)), st.sampled_from(list(Role)), st.frozensets(st.sampled_from(list(Action)))
)
def test_the_role_and_the_deny_list_together(action: Action, role: Role, denied: frozenset[Action]) -> None:
    principal = _principal(role, denied=denied)
    allowed = action not in denied and (role is not Role.READER or action in READ_ACTIONS)
    assert principal.may(action) is allowed
    if allowed:
        principal.require(action)
        return
    with pytest.raises(Forbidden) as refused:
        principal.require(action)
    # The deny-list's refusal names the action as before; the reader's says what a reader may do.
    assert isinstance(refused.value, ReaderMayNot) is (action not in denied)


def test_admin_powers_only_where_granted() -> None:
    assert _principal(Role.ADMIN).is_admin and _principal(Role.ADMIN).acting_role is Role.ADMIN
    scp = _principal(Role.ADMIN, powers=False)
    assert not scp.is_admin and scp.acting_role is Role.MEMBER
    assert not _principal(Role.MEMBER).is_admin and _principal(Role.READER).acting_role is Role.READER


def test_the_admin_list_scope_is_glances() -> None:
    default = admin_scope("a" * 32, None, every_visibility=False)
    assert default.include_own and default.own_visibilities is None  # its own community images too
    assert default.every_owner == frozenset(Visibility) - {Visibility.COMMUNITY}
    assert default.shared_member_statuses == frozenset()  # member_status selects nothing for an admin
    assert admin_scope("a" * 32, None, every_visibility=True).every_owner == frozenset(Visibility)
    for visibility in Visibility:
        scoped = admin_scope("a" * 32, visibility, every_visibility=False)
        assert scoped.every_owner == {visibility} and not scoped.include_own
    statuses = frozenset({MemberStatus.PENDING})
    assert list_scope("a" * 32, None, statuses, admin=True) == default
    assert list_scope("a" * 32, None, statuses).every_owner == frozenset()  # a member's is unchanged


def test_only_an_admin_downloads_a_deactivated_image() -> None:
    image = new_image(
        ImageSpec("d", "a" * 32, "ubuntu", status=ImageStatus.DEACTIVATED), datetime(2026, 1, 1)
    )
    with pytest.raises(ImageDeactivated):
        require_downloadable(image)
    require_downloadable(image, admin=True)
    assert downloadable_statuses() == {ImageStatus.ACTIVE}
    assert downloadable_statuses(admin=True) == {ImageStatus.ACTIVE, ImageStatus.DEACTIVATED}
