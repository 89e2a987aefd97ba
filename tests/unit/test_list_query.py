"""``http/list_query.py`` reads every query string as the per-edge parsers did before they were moved into it
(issue 19): the same ``ListQuery``, or the same refusal. The parsers as they were (main 2cf10db) are kept
below, verbatim but for taking the parameters instead of the request, as the reference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from scp_images.domain.errors import InvalidRequest
from scp_images.domain.image import Visibility
from scp_images.domain.listing import (
    FILTER_KEYS,
    MAX_LIMIT,
    SORT_KEYS,
    ListQuery,
    parse_bool,
    parse_limit,
    parse_member_status,
    parse_size,
    parse_sort,
    parse_tags,
    parse_true_false,
    parse_visibility,
)
from scp_images.http.list_query import glance_list_query, scp_list_query, scp_pending_query

T = TypeVar("T")


def _old_scp(params: QueryParams, *, filters: tuple[str, ...], paged: bool) -> ListQuery:
    values = {k: params[k] for k in filters if k in params and params[k] != "" and k != "visibility"}
    if any("\x00" in value for value in params.values()):
        raise InvalidRequest(reason="query parameters may not contain NUL characters")
    return ListQuery(
        filters=values,
        visibility=parse_visibility(params.get("visibility")) if "visibility" in filters else None,
        sort=parse_sort(params.get("sort")) if paged else parse_sort(None),
        limit=parse_limit(params.get("limit")) if paged else MAX_LIMIT,
        marker=(params.get("marker") or None) if paged else None,
        hidden=parse_bool("os_hidden", params.get("os_hidden")) if paged else False,
    )


def _old_sort(params: Any) -> str | None:
    keys, dirs = params.getlist("sort_key"), params.getlist("sort_dir")
    if "sort" in params:
        if keys or dirs:
            raise InvalidRequest(reason="give either sort or sort_key/sort_dir, not both")
        return str(params["sort"])
    if not keys:
        if dirs:
            raise InvalidRequest(reason="sort_dir needs a sort_key")
        return None
    if len(dirs) > len(keys):
        raise InvalidRequest(reason="more sort_dir than sort_key values")
    dirs = dirs + [dirs[-1] if dirs else "desc"] * (len(keys) - len(dirs))
    return ",".join(f"{k}:{d}" for k, d in zip(keys, dirs, strict=True))


def _old_given(params: Any, name: str, parse: Callable[[str, str], T]) -> T | None:
    return parse(name, params[name]) if name in params else None


def _old_glance(params: QueryParams) -> ListQuery:
    if any("\x00" in value for value in params.values()):
        raise InvalidRequest(reason="query parameters may not contain NUL characters")
    visibility = params.get("visibility")
    if visibility not in (None, "", "all") and visibility not in {v.value for v in Visibility}:
        raise InvalidRequest(reason="visibility must be one of public, community, shared, private, all")
    sort = _old_sort(params)
    if sort is not None:
        for item in sort.split(","):
            if item.partition(":")[0].strip() not in SORT_KEYS:
                raise InvalidRequest(reason=f"sort key {item[:40]!r} is not one of {', '.join(SORT_KEYS)}")
    filters = ("name", "status", "owner", "disk_format", "container_format")
    return ListQuery(
        filters={k: params[k] for k in filters if params.get(k)},
        visibility=Visibility(visibility) if visibility not in (None, "", "all") else None,
        sort=parse_sort(sort),
        limit=parse_limit(params.get("limit")) if params.get("limit") else 25,
        marker=params.get("marker") or None,
        hidden=parse_bool("os_hidden", params.get("os_hidden")),
        tags=parse_tags(params.getlist("tag")),
        size_min=_old_given(params, "size_min", parse_size),
        size_max=_old_given(params, "size_max", parse_size),
        protected=_old_given(params, "protected", parse_true_false),
        member_statuses=parse_member_status(params.get("member_status", "accepted")),
        every_visibility=visibility == "all",
    )


KEYS = [
    *FILTER_KEYS,
    "owner",
    "disk_format",
    "container_format",
    "sort",
    "sort_key",
    "sort_dir",
    "limit",
    "marker",
    "os_hidden",
    "tag",
    "size_min",
    "size_max",
    "protected",
    "member_status",
    "other",
]
VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "all",
            "public",
            "private",
            "shared",
            "community",
            "name",
            "name:asc",
            "size:desc,name",
            "id",
            "bogus",
            "asc",
            "desc",
            "0",
            "1",
            "25",
            "1000",
            "1001",
            "007",
            "-1",
            "true",
            "False",
            "yes",
            "accepted",
            "pending",
            "x\x00",
            "9" * 20,
        ]
    ),
    st.text(max_size=6),
)
QUERIES = st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=6).map(QueryParams)


def _outcome(parse: Callable[[QueryParams], ListQuery], params: QueryParams) -> object:
    try:
        return parse(params)
    except InvalidRequest as refusal:
        return (str(refusal), refusal.params)


@settings(max_examples=3000)
@given(params=QUERIES)
def test_every_query_reads_as_before(params: QueryParams) -> None:
    assert _outcome(scp_list_query, params) == _outcome(
        lambda p: _old_scp(p, filters=FILTER_KEYS, paged=True), params
    )
    pending = ("scp_image_type", "scp_original_image_type")
    assert _outcome(scp_pending_query, params) == _outcome(
        lambda p: _old_scp(p, filters=pending, paged=False), params
    )
    if _reads_as_before_on_v2(params):
        assert _outcome(glance_list_query, params) == _outcome(_old_glance, params)


# Issue 20 gave the v2 list Glance's other filters: keys it ignored are property (or column) filters now,
# and a colon in name, status or a format is an operator. Queries without those read as before.
_NEW_ON_V2 = {"os_distro", "scp_image_type", "scp_original_image_type", "other"}
_OPERATOR_KEYS = {"name", "status", "disk_format", "container_format"}


def _reads_as_before_on_v2(params: QueryParams) -> bool:
    if any(key in _NEW_ON_V2 for key in params):
        return False
    return not any(key in _OPERATOR_KEYS and ":" in params[key] for key in params)


def test_a_plain_mapping_reads_as_its_query_params() -> None:
    plain = {"name": "n", "sort": "name:asc", "limit": "5"}
    assert scp_list_query(plain) == scp_list_query(QueryParams(plain))
    assert glance_list_query(plain) == glance_list_query(QueryParams(plain))
