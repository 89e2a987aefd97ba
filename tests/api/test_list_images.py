"""List Images over HTTP: visibility scope, filters, sorting with nulls, keyset pagination."""

from __future__ import annotations

import functools
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scp_images.domain.image import Image, ImageStatus, Visibility, new_image_id
from scp_images.store.sql import images as image_store
from tests.support.stack import Stack

T0 = datetime(2026, 1, 1)


def seed(stack: Stack, owner: str, **fields: Any) -> Image:
    now = fields.pop("created_at", T0 + timedelta(seconds=random.randint(0, 10**6)))
    image = Image(
        id=new_image_id(),
        name=fields.pop("name", "img"),
        owner=owner,
        status=fields.pop("status", ImageStatus.ACTIVE),
        visibility=fields.pop("visibility", Visibility.PRIVATE),
        created_at=now,
        updated_at=fields.pop("updated_at", now),
        **fields,
    )
    with stack.components.db.transaction() as conn:
        image_store.insert_image(conn, image)
    return image


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [i["id"] for i in response.json()["images"]]


def test_default_list_is_own_plus_public_newest_first(stack: Stack) -> None:
    me, other = stack.new_account("me"), stack.new_account("other")
    mine = seed(stack, me.account_id, created_at=T0 + timedelta(days=1))
    public = seed(stack, other.account_id, visibility=Visibility.PUBLIC, created_at=T0 + timedelta(days=2))
    seed(stack, other.account_id)  # private: invisible
    seed(stack, other.account_id, visibility=Visibility.COMMUNITY)  # only on request
    seed(stack, other.account_id, visibility=Visibility.SHARED)  # not a member
    hidden = seed(stack, other.account_id, visibility=Visibility.PUBLIC, os_hidden=True)
    assert ids(stack.request("GET", "/v1/images", me)) == [public.id, mine.id]
    community = ids(stack.request("GET", "/v1/images", me, params={"visibility": "community"}))
    assert len(community) == 1
    assert ids(stack.request("GET", "/v1/images", me, params={"os_hidden": "true"})) == [hidden.id]


def test_filters_are_exact(stack: Stack) -> None:
    me = stack.new_account("me")
    a = seed(stack, me.account_id, name="alpha", os_distro="ubuntu", scp_image_type="custom")
    seed(stack, me.account_id, name="alphabet", os_distro="rocky", status=ImageStatus.QUEUED)
    assert ids(stack.request("GET", "/v1/images", me, params={"name": "alpha"})) == [a.id]
    assert ids(
        stack.request("GET", "/v1/images", me, params={"os_distro": "ubuntu", "status": "active"})
    ) == [a.id]
    assert ids(stack.request("GET", "/v1/images", me, params={"scp_image_type": "custom"})) == [a.id]
    assert ids(stack.request("GET", "/v1/images", me, params={"status": "killed"})) == []


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"sort": "owner:asc"}, "sort key"),
        ({"sort": "name:up"}, "direction"),
        ({"visibility": "everyone"}, "visibility"),
        ({"marker": "nope"}, "marker"),
        ({"marker": "70a599e0-31e7-49b7-b260-868f441e862b"}, "marker"),
        ({"os_hidden": "maybe"}, "os_hidden"),
    ],
)
def test_bad_list_parameters_are_400(stack: Stack, params: dict[str, str], word: str) -> None:
    me = stack.new_account("me")
    response = stack.request("GET", "/v1/images", me, params=params)
    assert response.status_code == 400, response.text
    assert word in response.json()["errors"][0]["detail"]


def test_invisible_marker_is_400(stack: Stack) -> None:
    me, other = stack.new_account("me"), stack.new_account("other")
    secret = seed(stack, other.account_id)
    response = stack.request("GET", "/v1/images", me, params={"marker": secret.id})
    assert response.status_code == 400


def test_default_limit_is_20_in_every_version(stack: Stack) -> None:
    me = stack.new_account("me")
    for _ in range(25):
        seed(stack, me.account_id)
    for version in ("1.0", "1.1", "1.2", "1.3"):
        assert len(ids(stack.request("GET", "/v1/images", me, version=version))) == 20


def _model_order(images: list[Image], sort: list[tuple[str, bool]]) -> list[str]:
    def compare(a: Image, b: Image) -> int:
        for key, descending in sort:
            va, vb = getattr(a, key), getattr(b, key)
            if va == vb:
                continue
            if va is None:  # nulls first ascending, last descending
                return 1 if descending else -1
            if vb is None:
                return -1 if descending else 1
            result = -1 if va < vb else 1
            return -result if descending else result
        return 0

    return [i.id for i in sorted(images, key=functools.cmp_to_key(compare))]


SORTABLE = ["created_at", "name", "size", "os_distro", "min_disk", "status", "virtual_size"]
sort_specs = st.lists(
    st.tuples(st.sampled_from(SORTABLE), st.booleans()), min_size=1, max_size=3, unique_by=lambda t: t[0]
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=sort_specs, page=st.integers(min_value=1, max_value=7), seed_value=st.integers(0, 10**6))
def test_keyset_pages_equal_the_model_order(
    stack: Stack, spec: list[tuple[str, bool]], page: int, seed_value: int
) -> None:
    rng = random.Random(seed_value)
    me = stack.new_account("pager")
    made = []
    for _ in range(rng.randint(0, 17)):
        made.append(
            seed(
                stack,
                me.account_id,
                name=rng.choice(["a", "b", "c"]),
                size=rng.choice([None, 1, 2, 3]),
                virtual_size=rng.choice([None, 10, 20]),
                os_distro=rng.choice([None, "rocky", "ubuntu"]),
                min_disk=rng.choice([0, 5]),
                status=rng.choice(list(ImageStatus)),
                created_at=T0 + timedelta(seconds=rng.randint(0, 3)),
            )
        )
    full_spec = [*spec, ("id", spec[-1][1])]
    expected = _model_order(made, full_spec)
    sort_param = ",".join(f"{k}:{'desc' if d else 'asc'}" for k, d in spec)
    seen: list[str] = []
    marker = None
    while True:
        params = {"sort": sort_param, "limit": str(page), "visibility": "private"}
        if marker:
            params["marker"] = marker
        got = ids(stack.request("GET", "/v1/images", me, params=params))
        seen += got
        if len(got) < page:
            break
        marker = got[-1]
    assert seen == expected
