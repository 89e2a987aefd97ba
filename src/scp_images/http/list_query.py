"""The list endpoints' query parameters read into a ``ListQuery``, for both edges: SCP's ``GET /v1/images``
and ``/v1/pending-images``, and Glance's ``GET /v2/images``. Pure functions of the parameters; what each
value may be is ``domain/listing.py``'s."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from starlette.datastructures import QueryParams

from scp_images.domain.errors import InvalidRequest
from scp_images.domain.image import Visibility
from scp_images.domain.listing import (
    FILTER_KEYS,
    GLANCE_DEFAULT_LIMIT,
    GLANCE_IN_FILTERS,
    GLANCE_INTEGER_FILTERS,
    GLANCE_LIST_PARAMETERS,
    GLANCE_TEXT_FILTERS,
    GLANCE_TIME_FILTERS,
    MAX_LIMIT,
    MAX_PROPERTY_FILTERS,
    PENDING_FILTER_KEYS,
    SORT_KEYS,
    ListQuery,
    TimeRange,
    parse_bool,
    parse_count,
    parse_limit,
    parse_member_status,
    parse_size,
    parse_sort,
    parse_tags,
    parse_true_false,
    parse_visibility,
    time_range,
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


def _scp_filters(params: QueryParams, keys: tuple[str, ...]) -> dict[str, str | int]:
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
    filters, one_of = _glance_field_filters(params)
    return ListQuery(
        filters=filters,
        one_of=one_of,
        time_ranges=_glance_time_ranges(params),
        properties=_glance_property_filters(params),
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


# --------------------------------------------------------------------------- Glance's filter syntax


def _glance_field_filters(params: QueryParams) -> tuple[dict[str, str | int], dict[str, tuple[str, ...]]]:
    """Equality on the image's own fields, and ``in:`` lists where Glance takes them. An empty value is no
    filter (as these keys always were here); a repeated key counts once, with its last value (Glance)."""
    filters: dict[str, str | int] = {}
    one_of: dict[str, tuple[str, ...]] = {}
    for key in GLANCE_TEXT_FILTERS:
        text = params.get(key, "")
        if text == "":
            continue
        values = _field_values(key, text)
        if key == "name":
            values = tuple(v for v in values if v != "")  # a nameless image (stored "") matches no name
        if len(values) == 1:
            filters[key] = values[0]
        else:
            one_of[key] = values
    for key in GLANCE_INTEGER_FILTERS:
        if params.get(key, "") != "":
            filters[key] = parse_count(key, params[key])
    return filters, one_of


def _field_values(key: str, text: str) -> tuple[str, ...]:
    """The values a field filter accepts: ``in:`` a list (where Glance takes one), ``eq:`` or bare one."""
    if key not in GLANCE_IN_FILTERS:
        return (text,)
    operator, value = split_filter_operator(text)
    if operator == "in":
        return tuple(split_in_values(value))
    if operator == "eq":
        return (value,)
    reason = f"unknown operator {operator[:20]!r} for {key}: use in:a,b or eq:a (or the value alone)"
    raise InvalidRequest(reason=reason)


def _glance_time_ranges(params: QueryParams) -> tuple[TimeRange, ...]:
    ranges = []
    for key in GLANCE_TIME_FILTERS:
        if key in params:
            operator, text = split_filter_operator(params[key])
            ranges.append(time_range(key, operator, _iso_time(key, text)))
    return tuple(ranges)


def _glance_property_filters(params: QueryParams) -> dict[str, str]:
    """Every other key is a filter on the image's extra properties, by equality (Glance)."""
    found = {key: params[key] for key in params if key not in GLANCE_LIST_PARAMETERS}
    if len(found) > MAX_PROPERTY_FILTERS:
        raise InvalidRequest(reason=f"at most {MAX_PROPERTY_FILTERS} property filters in one list")
    if "changes-since" in found:
        raise InvalidRequest(
            reason='the "changes-since" filter is not available on v2; use updated_at=gt:TIME'
        )
    return found


def split_filter_operator(text: str) -> tuple[str, str]:
    """Glance's ``operator:value``; no colon, or a whole value that is an ISO 8601 time (which has colons
    of its own), is ``eq``."""
    operator, colon, value = text.partition(":")
    if not colon or _parses_as_time(text):
        return "eq", text
    return operator, value


def split_in_values(text: str) -> list[str]:
    """An ``in:`` list: values separated by commas; a value holding a comma is written in double quotes.
    A quote opens only at the start or after a comma and closes only before a comma or the end; a quote
    after a backslash is part of the value, backslash and all (Glance keeps it as sent)."""
    values: list[str] = []
    at, end = 0, len(text)
    while at < end:
        if text[at] == '"':
            close = _closing_quote(text, at + 1)
            values.append(text[at + 1 : close])
            at = close + 1
            if at < end and text[at] != ",":
                raise InvalidRequest(reason=f"in: value {text[:60]!r}: no comma after a closing quote")
            at += 1
            continue
        comma = text.find(",", at)
        comma = end if comma < 0 else comma
        value = text[at:comma]
        if _unescaped_quote(value, 0) >= 0:
            raise InvalidRequest(reason=f"in: value {text[:60]!r}: no comma before an opening quote")
        values.append(value)
        at = comma + 1
    return values


def _unescaped_quote(text: str, start: int) -> int:
    at = text.find('"', start)
    while at > 0 and text[at - 1] == "\\":
        at = text.find('"', at + 1)
    return at


def _closing_quote(text: str, start: int) -> int:
    close = _unescaped_quote(text, start)
    if close < 0:
        raise InvalidRequest(reason=f"in: value {text[:60]!r}: a quote is not closed")
    return close


def _parses_as_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _iso_time(key: str, text: str) -> datetime:
    """An ISO 8601 time as naive UTC (one without an offset is UTC already)."""
    try:
        at = datetime.fromisoformat(text)
        return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo is not None else at
    except (ValueError, OverflowError):
        reason = f"{key} {text[:40]!r} is not an ISO 8601 time; use e.g. {key}=gte:2026-01-31T00:00:00Z"
        raise InvalidRequest(reason=reason) from None
