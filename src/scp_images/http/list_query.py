"""The list endpoints' query parameters read into a ``ListQuery``, for both edges: SCP's ``GET /v1/images``
and ``/v1/pending-images``, and Glance's ``GET /v2/images``. Pure functions of the parameters; what each
value may be is ``domain/listing.py``'s."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from starlette.datastructures import QueryParams

from scp_images.domain.errors import InvalidRequest
from scp_images.domain.image import Visibility
from scp_images.domain.listing import (
    FILTER_KEYS,
    GLANCE_DEFAULT_LIMIT,
    GLANCE_FILTER_KEYS,
    MAX_LIMIT,
    PENDING_FILTER_KEYS,
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

T = TypeVar("T")
Params = QueryParams | Mapping[str, str]


def _multi(params: Params) -> QueryParams:
    return params if isinstance(params, QueryParams) else QueryParams(params)


def _refuse_nul(params: QueryParams) -> None:
    if any("\x00" in value for value in params.values()):
        raise InvalidRequest(reason="query parameters may not contain NUL characters")


def scp_list_query(params: Params) -> ListQuery:
    """``GET /v1/images``: SCP's filters (empty ones ignored), sort, page size and marker."""
    params = _multi(params)
    _refuse_nul(params)
    return ListQuery(
        filters=_scp_filters(params, FILTER_KEYS),
        visibility=parse_visibility(params.get("visibility")),
        sort=parse_sort(params.get("sort")),
        limit=parse_limit(params.get("limit")),
        marker=params.get("marker") or None,
        hidden=parse_bool("os_hidden", params.get("os_hidden")),
    )


def scp_pending_query(params: Params) -> ListQuery:
    """``GET /v1/pending-images``: one unpaged list (up to MAX_LIMIT) in the default order."""
    params = _multi(params)
    _refuse_nul(params)
    filters = _scp_filters(params, PENDING_FILTER_KEYS)
    return ListQuery(filters=filters, sort=parse_sort(None), limit=MAX_LIMIT)


def _scp_filters(params: QueryParams, keys: tuple[str, ...]) -> dict[str, str]:
    return {k: params[k] for k in keys if k != "visibility" and params.get(k, "") != ""}


def glance_list_query(params: Params) -> ListQuery:
    """``GET /v2/images``: Glance's filters, ``visibility=all``, both sort syntaxes, size and tag filters."""
    params = _multi(params)
    _refuse_nul(params)
    visibility = params.get("visibility")
    if visibility not in (None, "", "all") and visibility not in {v.value for v in Visibility}:
        raise InvalidRequest(reason="visibility must be one of public, community, shared, private, all")
    sort = _glance_sort(params)
    if sort is not None:
        for item in sort.split(","):
            if item.partition(":")[0].strip() not in SORT_KEYS:
                raise InvalidRequest(reason=f"sort key {item[:40]!r} is not one of {', '.join(SORT_KEYS)}")
    return ListQuery(
        filters={k: params[k] for k in GLANCE_FILTER_KEYS if params.get(k)},
        visibility=Visibility(visibility) if visibility not in (None, "", "all") else None,
        sort=parse_sort(sort),
        limit=parse_limit(params.get("limit")) if params.get("limit") else GLANCE_DEFAULT_LIMIT,
        marker=params.get("marker") or None,
        hidden=parse_bool("os_hidden", params.get("os_hidden")),
        tags=parse_tags(params.getlist("tag")),
        size_min=_given(params, "size_min", parse_size),
        size_max=_given(params, "size_max", parse_size),
        protected=_given(params, "protected", parse_true_false),
        member_statuses=parse_member_status(params.get("member_status", "accepted")),
        every_visibility=visibility == "all",
    )


def _glance_sort(params: QueryParams) -> str | None:
    """``sort=k:d,...`` or repeated ``sort_key``/``sort_dir`` (a missing direction repeats the last one)."""
    keys, dirs = params.getlist("sort_key"), params.getlist("sort_dir")
    if "sort" in params:
        if keys or dirs:
            raise InvalidRequest(reason="give either sort or sort_key/sort_dir, not both")
        return params["sort"]
    if not keys:
        if dirs:
            raise InvalidRequest(reason="sort_dir needs a sort_key")
        return None
    if len(dirs) > len(keys):
        raise InvalidRequest(reason="more sort_dir than sort_key values")
    dirs = dirs + [dirs[-1] if dirs else "desc"] * (len(keys) - len(dirs))
    return ",".join(f"{k}:{d}" for k, d in zip(keys, dirs, strict=True))


def _given(params: QueryParams, name: str, parse: Callable[[str, str], T]) -> T | None:
    """A filter that is absent is no filter; a given one, even empty, must parse (Glance: 400)."""
    return parse(name, params[name]) if name in params else None
