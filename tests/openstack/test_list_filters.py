"""Glance's list filters through unchanged clients: ``tag`` (repeated), ``size_min``/``size_max``,
``protected`` and ``member_status`` with a second account; bad values are 400 in the clients' error form."""

from __future__ import annotations

from typing import Any

import pytest

from tests.openstack.conftest import connect, glance, token
from tests.openstack.test_sdk import put_file
from tests.support.stack import Key, Stack


def _ids(images: Any) -> list[str]:
    return [image["id"] if isinstance(image, dict) else image.id for image in images]


def test_sdk_tags_sizes_and_protected(stack: Stack, qcow2_bytes: bytes) -> None:
    conn = connect(stack, stack.new_account("alpha"))

    def create(name: str, **attrs: Any) -> str:
        return str(
            conn.image.create_image(name=name, disk_format="qcow2", container_format="bare", **attrs).id
        )

    both = create("both", tags=["gold", "x86"])
    put_file(conn, both, qcow2_bytes)
    gold = create("gold", tags=["gold"])
    kept = create("kept", is_protected=True)
    size = len(qcow2_bytes)
    assert _ids(conn.image.images(tag=["gold", "x86"])) == [both]  # tag=gold&tag=x86: both must be on it
    assert sorted(_ids(conn.image.images(tag="gold"))) == sorted([both, gold])
    # The SDK follows next links that keep every tag parameter.
    assert sorted(_ids(conn.image.images(tag="gold", limit=1))) == sorted([both, gold])
    assert _ids(conn.image.images(size_min=0)) == [both]  # the queued ones have no size
    assert _ids(conn.image.images(size_min=size, size_max=size)) == [both]
    assert _ids(conn.image.images(size_max=size - 1)) == []
    assert _ids(conn.image.images(protected=True)) == [kept]  # sent as "True"
    assert sorted(_ids(conn.image.images(protected=False))) == sorted([both, gold])


@pytest.fixture
def shared_three(stack: Stack) -> dict[str, Any]:
    """``owner`` shares three images with ``other``, who accepts one, rejects one and leaves one pending."""
    owner, other = stack.new_account("owner"), stack.new_account("other")
    mine, theirs = connect(stack, owner), connect(stack, other)
    made = {}
    for status in ("pending", "accepted", "rejected"):
        image = mine.image.create_image(name=status, disk_format="qcow2", container_format="bare")
        member = mine.image.add_member(image.id, member_id=other.account_id)
        if status != "pending":
            theirs.image.update_member(member, image.id, status=status)
        made[status] = image.id
    return {"owner": owner, "other": other, "mine": mine, "theirs": theirs, "made": made}


def test_sdk_member_status_with_a_second_account(stack: Stack, shared_three: dict[str, Any]) -> None:
    theirs, mine, made = shared_three["theirs"], shared_three["mine"], shared_three["made"]
    own = theirs.image.create_image(name="own", disk_format="qcow2", container_format="bare").id
    assert sorted(_ids(theirs.image.images())) == sorted([made["accepted"], own])
    for status in ("pending", "accepted", "rejected"):
        assert sorted(_ids(theirs.image.images(member_status=status))) == sorted([made[status], own])
    assert sorted(_ids(theirs.image.images(member_status="all"))) == sorted([*made.values(), own])
    # visibility=shared with a status: the caller's own shared images and the shared-with-me ones in it.
    shared_pending = theirs.image.images(visibility="shared", member_status="pending")
    assert sorted(_ids(shared_pending)) == sorted([made["pending"], own])
    assert _ids(theirs.image.images(visibility="private", member_status="all")) == []
    # The owner's own images are listed whatever member_status says.
    assert sorted(_ids(mine.image.images(member_status="rejected"))) == sorted(made.values())


def test_glanceclient_filters(stack: Stack, shared_three: dict[str, Any], qcow2_bytes: bytes) -> None:
    import io

    made = shared_three["made"]
    mine, theirs = glance(stack, shared_three["owner"]), glance(stack, shared_three["other"])
    mine.image_tags.update(made["rejected"], "blue")
    mine.image_tags.update(made["rejected"], "big")
    mine.image_tags.update(made["pending"], "blue")
    mine.images.upload(made["rejected"], io.BytesIO(qcow2_bytes))
    assert _ids(theirs.images.list(filters={"member_status": "rejected"})) == [made["rejected"]]
    assert _ids(theirs.images.list(filters={"member_status": "pending", "tag": ["blue"]})) == [
        made["pending"]
    ]
    everything = theirs.images.list(filters={"member_status": "all", "tag": ["blue", "big"]})
    assert _ids(everything) == [made["rejected"]]
    sized = theirs.images.list(filters={"member_status": "all", "size_min": 1, "size_max": len(qcow2_bytes)})
    assert _ids(sized) == [made["rejected"]]
    assert _ids(mine.images.list(filters={"protected": "false", "tag": ["blue"], "size_min": 1})) == [
        made["rejected"]
    ]
    # page_size=1: glanceclient follows next links carrying the filters.
    paged = theirs.images.list(page_size=1, filters={"member_status": "all", "tag": ["blue"]})
    assert sorted(_ids(paged)) == sorted([made["rejected"], made["pending"]])


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"size_min": "big"}, "size_min"),
        ({"size_max": "-1"}, "size_max"),
        ({"size_max": "1.5"}, "size_max"),
        ({"size_min": "9" * 5000}, "size_min"),
        ({"size_min": "9223372036854775808"}, "size_min"),
        ({"size_min": ""}, "size_min"),
        ({"protected": "yes"}, "protected"),
        ({"protected": ""}, "protected"),
        ({"member_status": "maybe"}, "member_status"),
        ({"member_status": "ALL"}, "member_status"),
        ({"tag": [f"t{i}" for i in range(129)]}, "tag"),
    ],
)
def test_bad_filter_values_are_400_in_the_glance_form(
    stack: Stack, params: dict[str, Any], word: str
) -> None:
    tok = token(stack, stack.new_account("alpha"))
    response = stack.http.get(
        f"{stack.base_url}/image/v2/images", params=params, headers={"X-Auth-Token": tok}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert (error["code"], error["title"]) == (400, "Bad Request")
    assert word in error["message"]


def test_clients_see_the_refusal(stack: Stack) -> None:
    import glanceclient.exc
    import openstack.exceptions

    key: Key = stack.new_account("alpha")
    with pytest.raises(openstack.exceptions.BadRequestException, match="size_min"):
        list(connect(stack, key).image.images(size_min="lots"))
    with pytest.raises(glanceclient.exc.HTTPBadRequest, match="member_status"):
        list(glance(stack, key).images.list(filters={"member_status": "everyone"}))


def test_visibility_all_adds_other_accounts_community_images(stack: Stack) -> None:
    """Glance: the default list leaves community images out unless they are one's own; visibility=all
    lists them beside everything the default list has."""
    from scp_images.domain.image import Visibility
    from tests.api.test_list_images import seed

    me, other = stack.new_account("me"), stack.new_account("other")
    mine = seed(stack, me.account_id)
    community = seed(stack, other.account_id, visibility=Visibility.COMMUNITY)
    seed(stack, other.account_id)  # private: never listed
    headers = {"X-Auth-Token": token(stack, me)}

    def listed(**params: str) -> list[str]:
        response = stack.http.get(f"{stack.base_url}/image/v2/images", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return sorted(_ids(response.json()["images"]))

    assert listed() == [mine.id]
    assert listed(visibility="all") == sorted([mine.id, community.id])
    assert listed(visibility="community") == [community.id]
