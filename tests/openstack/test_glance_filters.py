"""Glance's other list filters on the v2 edge, through the real server on SQLite and PostgreSQL: field
equality (``size``, ``checksum``, ``min_ram``, ``min_disk``, ``os_hash_value``, ...), ``in:`` lists with
quoted commas, ``gt:``/``gte:``/``lt:``/``lte:``/``eq:``/``neq:`` on ``created_at`` and ``updated_at``,
any other key as a property filter; pages and sorting under a filter; the 400s; raw HTTP, openstacksdk
and glanceclient. A hypothesis test shows a filter is a Python-side filter of the caller's full list."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scp_images.domain.image import Image, ImageStatus, Visibility, new_image_id
from scp_images.domain.member import Member, MemberStatus
from scp_images.store.sql import images as image_store
from scp_images.store.sql import members as member_store
from tests.openstack.conftest import connect, glance, token
from tests.support.stack import Key, Stack

T0 = datetime(2026, 5, 1, 12, 0, 0)


def seed(stack: Stack, owner: Key, at: datetime, **fields: Any) -> Image:
    image = Image(
        id=new_image_id(),
        name=fields.pop("name", "img"),
        owner=owner.account_id,
        status=fields.pop("status", ImageStatus.ACTIVE),
        visibility=fields.pop("visibility", Visibility.PRIVATE),
        created_at=at,
        updated_at=fields.pop("updated_at", at),
        **fields,
    )
    with stack.components.db.transaction() as conn:
        image_store.insert_image(conn, image)
    return image


def share(stack: Stack, image: Image, member: Key, status: MemberStatus) -> None:
    with stack.components.db.transaction() as conn:
        member_store.insert_member(conn, Member(image.id, member.account_id, status, T0, T0))


class Lister:
    def __init__(self, stack: Stack, key: Key) -> None:
        self.stack, self.headers = stack, {"X-Auth-Token": token(stack, key)}

    def get(self, params: Any) -> Any:
        url = f"{self.stack.base_url}/image/v2/images"
        return self.stack.http.get(url, params=params, headers=self.headers)

    def ids(self, params: Any = None) -> list[str]:
        response = self.get(params or {})
        assert response.status_code == 200, response.text
        return [image["id"] for image in response.json()["images"]]

    def every(self, params: Any) -> list[dict[str, Any]]:
        """All pages, following ``next`` links as the clients do."""
        images: list[dict[str, Any]] = []
        response = self.get(params)
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            images += body["images"]
            if "next" not in body:
                return images
            response = self.stack.http.get(f"{self.stack.base_url}/image{body['next']}", headers=self.headers)


def newest_first(*images: Image) -> list[str]:
    return [i.id for i in sorted(images, key=lambda i: (i.created_at, i.id), reverse=True)]


def test_equality_on_the_image_fields(stack: Stack) -> None:
    me = stack.new_account("me")
    big = seed(
        stack,
        me,
        T0,
        size=10,
        virtual_size=40,
        checksum="c" * 32,
        min_ram=512,
        min_disk=5,
        os_hash_value="h" * 128,
        os_distro="rocky",
        disk_format="raw",
    )
    small = seed(stack, me, T0 + timedelta(seconds=1), size=3, checksum="d" * 32, os_hash_value="j" * 128)
    queued = seed(stack, me, T0 + timedelta(seconds=2), status=ImageStatus.QUEUED)  # no size, no hashes
    lister = Lister(stack, me)
    assert lister.ids({"size": "10"}) == [big.id]
    assert lister.ids({"size": "0010"}) == [big.id]
    assert lister.ids({"virtual_size": "40"}) == [big.id]
    assert lister.ids({"checksum": "d" * 32}) == [small.id]
    assert lister.ids({"min_ram": "512"}) == [big.id]
    assert lister.ids({"min_ram": "0"}) == newest_first(small, queued)
    assert lister.ids({"min_disk": "5"}) == [big.id]
    assert lister.ids({"os_hash_value": "h" * 128}) == [big.id]
    assert lister.ids({"os_hash_algo": "sha512"}) == []
    assert lister.ids({"os_distro": "rocky"}) == [big.id]  # a property on v2, a column here
    assert lister.ids({"id": small.id}) == [small.id]
    assert lister.ids({"status": "queued"}) == [queued.id]
    assert lister.ids({"disk_format": "raw"}) == [big.id]
    assert lister.ids({"size": "10", "min_ram": "0"}) == []  # filters combine


def test_in_lists_with_quoted_commas(stack: Stack) -> None:
    me = stack.new_account("me")
    glass = seed(stack, me, T0, name="glass, darkly")
    share_me = seed(stack, me, T0 + timedelta(seconds=1), name="share me", status=ImageStatus.QUEUED)
    plain = seed(stack, me, T0 + timedelta(seconds=2), name="glass", disk_format="raw")
    nameless = seed(stack, me, T0 + timedelta(seconds=3), name="")
    lister = Lister(stack, me)
    # Glance's own example: v2/images?name=in:"glass,%20darkly",share%20me
    assert lister.ids({"name": 'in:"glass, darkly",share me'}) == newest_first(glass, share_me)
    assert lister.ids({"name": "in:glass,share"}) == [plain.id]  # exact names only
    assert lister.ids({"name": "eq:glass"}) == [plain.id]
    assert lister.ids({"name": 'in:"",glass'}) == [plain.id]  # a nameless image matches no name
    assert lister.ids({"name": "in:"}) == []
    assert lister.ids({"status": "in:queued,killed"}) == [share_me.id]
    assert lister.ids({"id": f"in:{glass.id},{nameless.id},{new_image_id()}"}) == newest_first(
        glass, nameless
    )
    assert lister.ids({"disk_format": "in:raw,vhd"}) == [plain.id]
    assert lister.ids({"container_format": "in:bare"}) == newest_first(glass, share_me, plain, nameless)


def test_time_operators_compare_the_shown_seconds(stack: Stack) -> None:
    me = stack.new_account("me")
    early = seed(stack, me, T0 + timedelta(microseconds=250_000))  # shown as 12:00:00Z
    late = seed(stack, me, T0 + timedelta(seconds=1, microseconds=999_999), updated_at=T0 + timedelta(days=1))
    lister = Lister(stack, me)
    shown = "2026-05-01T12:00:00Z"
    assert lister.ids({"created_at": shown}) == [early.id]  # no operator: eq, colons and all
    assert lister.ids({"created_at": f"eq:{shown}"}) == [early.id]
    assert lister.ids({"created_at": f"neq:{shown}"}) == [late.id]
    assert lister.ids({"created_at": f"gt:{shown}"}) == [late.id]
    assert lister.ids({"created_at": f"gte:{shown}"}) == newest_first(early, late)
    assert lister.ids({"created_at": f"lt:{shown}"}) == []
    assert lister.ids({"created_at": f"lte:{shown}"}) == [early.id]
    assert lister.ids({"created_at": "lt:2026-05-01T12:00:00.5Z"}) == [early.id]
    assert lister.ids({"created_at": "eq:2026-05-01T12:00:00.5Z"}) == []
    assert lister.ids({"created_at": "gte:2026-05-01T21:00:01+09:00"}) == [late.id]  # offsets count
    assert lister.ids({"created_at": "lt:2026-05-02"}) == newest_first(early, late)
    assert lister.ids({"updated_at": "gt:2026-05-01T12:00:01Z"}) == [late.id]
    assert lister.ids(
        {"created_at": "gte:2026-05-01T12:00:00Z", "updated_at": "lt:2026-05-02T00:00:00Z"}
    ) == [early.id]
    assert lister.ids({"created_at": "lte:9999-12-31T23:59:59Z"}) == newest_first(early, late)
    assert lister.ids({"created_at": "gt:9999-12-31T23:59:59.5Z"}) == []


def test_any_other_key_is_a_property_filter(stack: Stack) -> None:
    me, other = stack.new_account("me"), stack.new_account("other")
    kernel = seed(stack, me, T0, properties={"kernel_id": "x1", "ramdisk_id": "r1"})
    ramdisk = seed(stack, me, T0 + timedelta(seconds=1), properties={"ramdisk_id": "r1"})
    empty = seed(stack, me, T0 + timedelta(seconds=2), properties={"note": ""})
    seed(stack, other, T0 + timedelta(seconds=3), properties={"kernel_id": "x1"})  # private: not mine to see
    public = seed(
        stack, other, T0 + timedelta(seconds=4), visibility=Visibility.PUBLIC, properties={"kernel_id": "x1"}
    )
    lister = Lister(stack, me)
    assert lister.ids({"kernel_id": "x1"}) == newest_first(kernel, public)
    assert lister.ids({"ramdisk_id": "r1"}) == newest_first(kernel, ramdisk)
    assert lister.ids({"ramdisk_id": "r1", "kernel_id": "x1"}) == [kernel.id]
    assert lister.ids({"kernel_id": "x2"}) == []
    assert lister.ids({"foo": "bar"}) == []  # once ignored: every image came back
    assert lister.ids({"note": ""}) == [empty.id]
    assert lister.ids({"kernel_id": "x1", "owner": other.account_id}) == [public.id]
    assert lister.ids({"kernel_id": "x1", "visibility": "private"}) == [kernel.id]
    assert lister.ids({"self": "x", "file": "y"}) == []


def test_pages_and_sorting_keep_the_filters(stack: Stack) -> None:
    me = stack.new_account("me")
    made = [
        seed(
            stack,
            me,
            T0 + timedelta(seconds=i),
            name=f"n{9 - i}",
            properties={"tier": "gold" if i % 2 else "tin"},
        )
        for i in range(9)
    ]
    gold = [i for i in made if i.properties["tier"] == "gold"]
    lister = Lister(stack, me)
    paged = lister.every({"tier": "gold", "limit": "1"})
    assert [i["id"] for i in paged] == newest_first(*gold)
    by_name = lister.every({"tier": "gold", "limit": "3", "sort": "name:asc"})
    assert [i["id"] for i in by_name] == [i.id for i in sorted(gold, key=lambda i: i.name)]
    later = lister.every(
        {"tier": "gold", "limit": "2", "created_at": f"gte:{(T0 + timedelta(seconds=3)).isoformat()}Z"}
    )
    assert [i["id"] for i in later] == newest_first(*gold[1:])
    marker = gold[-1].id
    assert lister.ids({"tier": "gold", "marker": marker}) == newest_first(*gold[:-1])


@pytest.mark.parametrize("walk_rows", [1, 3, 1000])
def test_a_property_page_whether_the_bounded_walk_fills_it_or_not(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, walk_rows: int
) -> None:
    """On PostgreSQL a property filter first walks the sort's index a bounded distance, then asks the GIN
    index (``store/sql/images.py``): the pages are the same either way, clustered matches or spread."""
    monkeypatch.setattr(image_store, "PROPERTY_WALK_ROWS", walk_rows)
    me = stack.new_account("me")
    made = [
        seed(
            stack,
            me,
            T0 + timedelta(seconds=i),
            name=f"n{i % 4}",
            properties={"lane": "old"} if i < 4 else {},
        )
        for i in range(12)
    ]
    old = made[:4]
    lister = Lister(stack, me)
    by_name = [i.id for i in sorted(old, key=lambda i: (i.name, i.id))]
    no_size = sorted((i.id for i in old), reverse=True)  # every size is null: the id decides
    cases = [({"limit": "1"}, newest_first(*old)), ({"limit": "3"}, newest_first(*old))]
    cases += [({"limit": "2", "sort": "name:asc"}, by_name), ({"sort": "size:desc"}, no_size)]
    for params, expected in cases:
        assert [i["id"] for i in lister.every({"lane": "old", **params})] == expected


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"created_at": "yesterday"}, "created_at"),
        ({"created_at": "gt:"}, "created_at"),
        ({"updated_at": "after:2026-01-01T00:00:00Z"}, "operator"),
        ({"created_at": "in:2026-01-01T00:00:00Z"}, "operator"),
        ({"name": "like:x"}, "operator"),
        ({"name": "ubuntu:22.04"}, "operator"),  # Glance reads the colon as an operator too
        ({"status": "neq:active"}, "operator"),
        ({"name": 'in:"unclosed'}, "quote"),
        ({"name": 'in:a"b'}, "quote"),
        ({"name": 'in:"a"b'}, "quote"),
        ({"size": "abc"}, "size"),
        ({"min_ram": "-1"}, "min_ram"),
        ({"min_disk": "9" * 30}, "min_disk"),
        ({"changes-since": "2026-01-01T00:00:00Z"}, "changes-since"),
        ({f"p{i}": "x" for i in range(65)}, "property filters"),
    ],
)
def test_bad_filters_are_400_in_the_glance_form(stack: Stack, params: dict[str, str], word: str) -> None:
    response = Lister(stack, stack.new_account("me")).get(params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["title"]) == (400, "Bad Request")
    assert word in error["message"]


def test_openstacksdk_filters(stack: Stack) -> None:
    me = stack.new_account("me")
    first = seed(stack, me, T0, name="a,b", status=ImageStatus.QUEUED)
    second = seed(stack, me, T0 + timedelta(seconds=5), name="c")
    conn = connect(stack, me)

    def ids(**query: Any) -> list[str]:
        return [image.id for image in conn.image.images(**query)]

    assert ids(name='in:"a,b",c') == newest_first(first, second)
    assert ids(id=f"in:{first.id}") == [first.id]
    assert ids(status="in:queued") == [first.id]
    assert ids(created_at="gt:2026-05-01T12:00:00Z") == [second.id]
    assert ids(updated_at="lte:2026-05-01T12:00:00Z") == [first.id]
    assert ids(name='in:"a,b",c', limit=1) == newest_first(first, second)  # next links keep the filter


def test_glanceclient_filters(stack: Stack) -> None:
    import glanceclient.exc

    me = stack.new_account("me")
    kernel = seed(stack, me, T0, min_ram=1024, properties={"kernel_id": "x1"})
    seed(stack, me, T0 + timedelta(seconds=5), properties={"kernel_id": "x2"})
    client = glance(stack, me)

    def ids(**filters: Any) -> list[str]:
        return [image["id"] for image in client.images.list(filters=filters)]

    assert ids(kernel_id="x1") == [kernel.id]
    assert ids(min_ram=1024) == [kernel.id]
    assert ids(created_at="lt:2026-05-01T12:00:01Z", kernel_id="x1") == [kernel.id]
    assert [i["id"] for i in client.images.list(page_size=1, filters={"kernel_id": "x1"})] == [kernel.id]
    with pytest.raises(glanceclient.exc.HTTPBadRequest, match="ISO 8601"):
        ids(created_at="gt:soon")


# --------------------------------------------------------------------------- hypothesis: a filter is a view


NAMES = ["a", "b", "a,b", 'q"x', ""]
PROPERTY_VALUES = ["x1", "x2", ""]
OPERATORS = ["gt", "gte", "lt", "lte", "eq", "neq"]


def _world(stack: Stack) -> tuple[Key, list[Image]]:
    """Three accounts' images with every combination the filters look at; the caller is ``me``."""
    cached = getattr(stack, "_filter_world", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    me, other, sharer = stack.new_account("me"), stack.new_account("other"), stack.new_account("sharer")
    made = []
    for i in range(30):
        owner = (me, other, sharer)[i % 3]
        visibility = [Visibility.PRIVATE, Visibility.PUBLIC, Visibility.SHARED, Visibility.COMMUNITY][i % 4]
        properties = {"kernel_id": PROPERTY_VALUES[i % 3]} if i % 5 else {}
        if i % 7 == 0:
            properties["os_type"] = "linux"
        image = seed(
            stack,
            owner,
            T0 + timedelta(seconds=i // 2, microseconds=(i * 137_000) % 1_000_000),
            name=NAMES[i % len(NAMES)],
            status=[ImageStatus.ACTIVE, ImageStatus.QUEUED][i % 2],
            visibility=visibility,
            size=[None, 1, 2][i % 3],
            min_ram=[0, 512][i % 2],
            disk_format=["raw", "qcow2"][i % 2],
            updated_at=T0 + timedelta(seconds=30 - i),
            properties=properties,
        )
        if visibility is Visibility.SHARED and owner is not me:
            share(stack, image, me, [MemberStatus.ACCEPTED, MemberStatus.PENDING][i % 2])
        made.append(image)
    stack._filter_world = (me, made)  # type: ignore[attr-defined]
    return me, made


def _quoted(values: list[str]) -> str:
    return "in:" + ",".join(f'"{v}"' if "," in v else v for v in values)


def _times() -> st.SearchStrategy[str]:
    seconds = st.integers(-2, 32).map(lambda s: T0 + timedelta(seconds=s))
    fraction = st.sampled_from([0, 500_000])
    at = st.builds(lambda t, f: (t + timedelta(microseconds=f)).isoformat() + "Z", seconds, fraction)
    return st.builds(lambda op, t: f"{op}:{t}", st.sampled_from(OPERATORS), at)


FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(
            st.sampled_from([n for n in NAMES if n and '"' not in n and ":" not in n]),
            st.lists(st.sampled_from([n for n in NAMES if '"' not in n]), max_size=3).map(_quoted),
        ),
        "status": st.sampled_from(["active", "queued", "in:active,queued", "in:killed"]),
        "disk_format": st.sampled_from(["raw", "qcow2", "in:raw,vhd"]),
        "size": st.sampled_from(["1", "2", "3"]),
        "min_ram": st.sampled_from(["0", "512"]),
        "created_at": _times(),
        "updated_at": _times(),
        "kernel_id": st.sampled_from(PROPERTY_VALUES),
        "os_type": st.sampled_from(["linux", "windows"]),
        "owner": st.sampled_from(["me", "other"]),
        "visibility": st.sampled_from(["public", "private", "shared", "community", "all"]),
        "member_status": st.sampled_from(["accepted", "pending", "all"]),
        "limit": st.sampled_from(["1", "4", "1000"]),
    },
)


def _shown_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", ""))


def _time_matches(shown: str, expression: str) -> bool:
    operator, _, at_text = expression.partition(":")
    at, value = _shown_time(at_text), _shown_time(shown)
    return {
        "gt": value > at,
        "gte": value >= at,
        "lt": value < at,
        "lte": value <= at,
        "eq": value == at,
        "neq": value != at,
    }[operator]


def _one_of(expression: str) -> list[str]:
    if not expression.startswith("in:"):
        return [expression]
    rest, values = expression[3:], []
    while rest:
        if rest.startswith('"'):
            end = rest.index('"', 1)
            values.append(rest[1:end])
            rest = rest[end + 2 :]
        else:
            value, _, rest = rest.partition(",")
            values.append(value)
    return values


def _matches(image: dict[str, Any], key: str, expression: str) -> bool:
    if key in ("created_at", "updated_at"):
        return _time_matches(image[key], expression)
    if key in ("size", "min_ram"):
        return image[key] == int(expression)
    if key in ("name", "status", "disk_format", "owner"):
        return image[key] in _one_of(expression)
    return image.get(key) == expression  # a property


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters=FILTERS)
def test_a_filter_is_a_python_filter_of_the_visible_list(stack: Stack, filters: dict[str, str]) -> None:
    me, _ = _world(stack)
    lister = Lister(stack, me)
    if filters.get("owner") == "me":
        filters["owner"] = me.account_id
    scope = {k: v for k, v in filters.items() if k in ("visibility", "member_status")}
    visible = lister.every({**scope, "limit": "1000"})
    visible_ids = {i["id"] for i in visible}
    # What the caller may see at all, whatever the filters say (the default list plus community).
    may_see = {i["id"] for i in lister.every({"visibility": "all", "member_status": "all", "limit": "1000"})}
    got = lister.every(filters)
    expected = [
        i["id"]
        for i in visible
        if all(
            _matches(i, k, v) for k, v in filters.items() if k not in ("visibility", "member_status", "limit")
        )
    ]
    assert [i["id"] for i in got] == expected
    assert visible_ids <= may_see
    assert {i["id"] for i in got} <= may_see
