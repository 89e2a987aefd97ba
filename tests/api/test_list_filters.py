"""The OpenStack list filters (tags, size bounds, protected, member_status) in the service and the SQL
store, on SQLite and PostgreSQL: what each matches, how they combine, and keyset pages under a filter."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from scp_images.domain.errors import InvalidRequest
from scp_images.domain.image import Image, ImageStatus, Visibility, new_image_id
from scp_images.domain.listing import (
    ListQuery,
    SortKey,
    parse_member_status,
    parse_size,
    parse_tags,
    parse_true_false,
)
from scp_images.domain.member import Member, MemberStatus
from scp_images.domain.principal import Principal
from scp_images.store.sql import images as image_store
from scp_images.store.sql import members as member_store
from tests.support.stack import Key, Stack

T0 = datetime(2026, 3, 1)
_made = 0


def seed(stack: Stack, owner: Key, **fields: Any) -> Image:
    global _made
    _made += 1  # distinct creation times: the default order is newest first
    now = T0 + timedelta(seconds=_made)
    image = Image(
        id=new_image_id(),
        name=fields.pop("name", "img"),
        owner=owner.account_id,
        status=fields.pop("status", ImageStatus.ACTIVE),
        visibility=fields.pop("visibility", Visibility.PRIVATE),
        created_at=now,
        updated_at=now,
        **fields,
    )
    with stack.components.db.transaction() as conn:
        image_store.insert_image(conn, image)
    return image


def share(stack: Stack, image: Image, member: Key, status: MemberStatus) -> None:
    with stack.components.db.transaction() as conn:
        member_store.insert_member(conn, Member(image.id, member.account_id, status, T0, T0))


def listed(stack: Stack, key: Key, **query: Any) -> list[str]:
    principal = Principal(key.account_id, "acct", key.user_name, key.access_key)
    return [i.id for i in stack.components.images.list_visible(principal, ListQuery(**query))]


def newest_first(*images: Image) -> list[str]:
    return [i.id for i in sorted(images, key=lambda i: i.created_at, reverse=True)]


def test_every_given_tag_must_be_on_the_image(stack: Stack) -> None:
    me = stack.new_account("me")
    both = seed(stack, me, tags=("gold", "x86"))
    gold = seed(stack, me, tags=("gold",))
    seed(stack, me, tags=("x86",))
    seed(stack, me)
    odd = seed(stack, me, tags=('quote"d', "ümlaut", "50%_off"))
    assert listed(stack, me, tags=("gold",)) == newest_first(both, gold)
    assert listed(stack, me, tags=("gold", "x86")) == [both.id]
    assert listed(stack, me, tags=("gold", "arm")) == []
    assert listed(stack, me, tags=('quote"d', "ümlaut")) == [odd.id]
    assert listed(stack, me, tags=("50%",)) == []  # exact match, no pattern
    assert listed(stack, me, tags=("GOLD",)) == []


def test_tag_objects_from_before_0009_are_not_tags(stack: Stack) -> None:
    me = stack.new_account("me")
    # An SCP tag object kept in the JSON list by an old row (never shown as a tag). SQLite's json_each
    # gives its JSON text as the element's value, which a filter could otherwise name.
    seed(stack, me, tags=({"key": "a"},))
    assert listed(stack, me, tags=('{"key":"a"}',)) == []
    assert listed(stack, me, tags=("key",)) == []


def test_size_bounds_never_match_an_image_without_data(stack: Stack) -> None:
    me = stack.new_account("me")
    empty = seed(stack, me, size=0)
    small = seed(stack, me, size=10)
    big = seed(stack, me, size=100)
    seed(stack, me, size=None, status=ImageStatus.QUEUED)
    assert listed(stack, me, size_min=0) == newest_first(empty, small, big)
    assert listed(stack, me, size_min=10) == newest_first(small, big)
    assert listed(stack, me, size_max=10) == newest_first(empty, small)
    assert listed(stack, me, size_min=10, size_max=10) == [small.id]
    assert listed(stack, me, size_min=11, size_max=99) == []
    assert listed(stack, me, size_min=2**63 - 1) == []


def test_protected_true_and_false(stack: Stack) -> None:
    me = stack.new_account("me")
    kept = seed(stack, me, protected=True)
    loose = seed(stack, me, protected=False)
    assert listed(stack, me, protected=True) == [kept.id]
    assert listed(stack, me, protected=False) == [loose.id]
    assert listed(stack, me) == newest_first(kept, loose)


def test_filters_combine(stack: Stack) -> None:
    me = stack.new_account("me")
    hit = seed(stack, me, tags=("a",), size=50, protected=True, name="n")
    seed(stack, me, tags=("a",), size=50, protected=False, name="n")
    seed(stack, me, tags=("a",), size=5, protected=True, name="n")
    seed(stack, me, tags=("b",), size=50, protected=True, name="n")
    seed(stack, me, tags=("a",), size=50, protected=True, name="other")
    query = {"tags": ("a",), "size_min": 10, "protected": True, "filters": {"name": "n"}}
    assert listed(stack, me, **query) == [hit.id]


@pytest.fixture
def sharing(stack: Stack) -> dict[str, Any]:
    """``owner`` shares one image with ``me`` in each membership status; ``me`` has images of its own
    (one shared with nobody), and a stranger's public image is there for everyone."""
    owner, me = stack.new_account("owner"), stack.new_account("me")
    made = {status: seed(stack, owner, visibility=Visibility.SHARED) for status in MemberStatus}
    for status, image in made.items():
        share(stack, image, me, status)
    return {
        "owner": owner,
        "me": me,
        "shared": made,
        "own": seed(stack, me),
        "own_shared": seed(stack, me, visibility=Visibility.SHARED),
        "public": seed(stack, stack.new_account("stranger"), visibility=Visibility.PUBLIC),
        "not_member": seed(stack, owner, visibility=Visibility.SHARED),
    }


@pytest.mark.parametrize(
    ("member_status", "statuses"),
    [
        ("accepted", [MemberStatus.ACCEPTED]),
        ("pending", [MemberStatus.PENDING]),
        ("rejected", [MemberStatus.REJECTED]),
        ("all", list(MemberStatus)),
    ],
)
def test_member_status_picks_among_the_images_shared_with_me(
    stack: Stack, sharing: dict[str, Any], member_status: str, statuses: list[MemberStatus]
) -> None:
    me, shared = sharing["me"], sharing["shared"]
    chosen = [shared[s] for s in statuses]
    unaffected = [sharing["own"], sharing["own_shared"], sharing["public"]]
    assert listed(stack, me, member_statuses=parse_member_status(member_status)) == newest_first(
        *chosen, *unaffected
    )
    # visibility=shared (as in Glance): my own shared images, and the shared-with-me ones in that status.
    in_shared = listed(
        stack, me, visibility=Visibility.SHARED, member_statuses=parse_member_status(member_status)
    )
    assert in_shared == newest_first(*chosen, sharing["own_shared"])
    # private and public lists have no shared-with-me images, whatever the status.
    private = listed(
        stack, me, visibility=Visibility.PRIVATE, member_statuses=parse_member_status(member_status)
    )
    assert private == [sharing["own"].id]


def test_member_status_leaves_the_owners_list_alone(stack: Stack, sharing: dict[str, Any]) -> None:
    owner = sharing["owner"]
    everything = newest_first(*sharing["shared"].values(), sharing["not_member"], sharing["public"])
    for member_status in ("pending", "rejected", "all"):
        assert listed(stack, owner, member_statuses=parse_member_status(member_status)) == everything


@pytest.mark.parametrize("descending", [True, False])
def test_pages_under_a_filter_follow_the_marker(stack: Stack, descending: bool) -> None:
    me = stack.new_account("pager")
    other = stack.new_account("sharer")
    tagged = []
    for i in range(9):
        if i % 3 == 0:
            seed(stack, me, tags=("other",), size=100)  # between the matching ones, never listed
        image = seed(stack, me, tags=("x", f"n{i}"), size=100 + i)
        tagged.append(image)
        seed(stack, me, tags=("x",), size=None)  # tagged, but no data: fails size_min
    pending = seed(stack, other, tags=("x",), size=500, visibility=Visibility.SHARED)
    share(stack, pending, me, MemberStatus.PENDING)
    tagged.append(pending)
    sort = (SortKey("created_at", descending), SortKey("id", descending))
    expected = [i.id for i in sorted(tagged, key=lambda i: i.created_at, reverse=descending)]
    query = {"tags": ("x",), "size_min": 1, "sort": sort, "member_statuses": frozenset(MemberStatus)}
    seen: list[str] = []
    marker = None
    while True:
        page = listed(stack, me, limit=4, marker=marker, **query)
        seen += page
        if len(page) < 4:
            break
        marker = page[-1]
    assert seen == expected
    # A marker the filter would not list (it has no data) still places the page, as in Glance.
    newest = seed(stack, me, tags=("x",), size=None)
    assert listed(stack, me, limit=100, marker=newest.id, **query) == (expected if descending else [])


@pytest.mark.parametrize(
    "text", ["", "-1", "+5", " 5", "1_000", "1.5", "٣", "9223372036854775808", "9" * 5000]
)
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(InvalidRequest, match="size_min"):
        parse_size("size_min", text)


def test_size_parsing_takes_plain_digits() -> None:
    assert parse_size("size_max", "0") == 0
    assert parse_size("size_max", "007") == 7
    assert parse_size("size_max", "9223372036854775807") == 2**63 - 1


@pytest.mark.parametrize("text", ["", "yes", "1", "t", "truth"])
def test_protected_is_true_or_false(text: str) -> None:
    with pytest.raises(InvalidRequest, match="protected"):
        parse_true_false("protected", text)
    assert parse_true_false("protected", "True") is True
    assert parse_true_false("protected", "false") is False


@pytest.mark.parametrize("text", ["", "Accepted", "none", "any"])
def test_member_status_values(text: str) -> None:
    with pytest.raises(InvalidRequest, match="member_status"):
        parse_member_status(text)


def test_tags_are_stripped_and_distinct() -> None:
    assert parse_tags([" a ", "a", "b"]) == ("a", "b")
    assert parse_tags([]) == ()
    with pytest.raises(InvalidRequest, match="tag"):
        parse_tags([f"t{i}" for i in range(129)])
