"""List parameters: filters, sort keys, page size; parsed and checked without I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scp_images.domain.errors import InvalidRequest
from scp_images.domain.image import Visibility
from scp_images.domain.member import MemberStatus
from scp_images.domain.properties import GLANCE_MAX_TAGS

SORT_KEYS = (
    "created_at",
    "updated_at",
    "name",
    "status",
    "size",
    "virtual_size",
    "min_disk",
    "min_ram",
    "os_distro",
    "visibility",
    "id",
)
FILTER_KEYS = ("name", "os_distro", "status", "visibility", "scp_image_type", "scp_original_image_type")
PENDING_FILTER_KEYS = ("scp_image_type", "scp_original_image_type")
DEFAULT_LIMIT = 20
# Glance's v2 list: its default page size, and its filters on the image's own attributes (every other key
# that is not one of the list's parameters filters on the extra properties). ``os_distro`` is a column
# here and a property in Glance: as a filter it is the column's equality.
GLANCE_DEFAULT_LIMIT = 25
GLANCE_TEXT_FILTERS = (
    "name",
    "status",
    "owner",
    "disk_format",
    "container_format",
    "id",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "os_distro",
)
GLANCE_INTEGER_FILTERS = ("size", "virtual_size", "min_ram", "min_disk")
GLANCE_IN_FILTERS = ("id", "name", "status", "disk_format", "container_format")  # ``in:a,"b,c"``
GLANCE_TIME_FILTERS = ("created_at", "updated_at")  # ``gt:``, ``gte:``, ``lt:``, ``lte:``, ``eq:``, ``neq:``
TIME_OPERATORS = ("gt", "gte", "lt", "lte", "eq", "neq")
# The list's own parameters and the filters read by name; none of them is a property filter.
GLANCE_LIST_PARAMETERS = frozenset(
    {
        "limit",
        "marker",
        "sort",
        "sort_key",
        "sort_dir",
        "member_status",
        "tag",
        "visibility",
        "os_hidden",
        "protected",
        "size_min",
        "size_max",
        *GLANCE_TEXT_FILTERS,
        *GLANCE_INTEGER_FILTERS,
        *GLANCE_TIME_FILTERS,
    }
)
# At most this many property filters in one list (each is one more condition on every row it meets).
MAX_PROPERTY_FILTERS = 64
MAX_LIMIT = 1000
DEFAULT_SORT = "created_at:desc"
# The shared-with-me images a list shows by default (Glance's member_status=accepted).
ACCEPTED_ONLY = frozenset({MemberStatus.ACCEPTED})
_VISIBILITIES = frozenset(v.value for v in Visibility)
# A size filter must fit the BIGINT size column on every database (a larger bound would fail to bind).
MAX_SIZE = 2**63 - 1


@dataclass(frozen=True, slots=True)
class SortKey:
    key: str
    descending: bool


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The images whose ``field`` (naive UTC, as stored) lies in ``[start, end)`` (``None``: unbounded on
    that side), or outside it when ``inside`` is false."""

    field: str
    start: datetime | None
    end: datetime | None
    inside: bool = True


_SECOND = timedelta(seconds=1)
_EVERYTHING_AT = (None, None, True)
_NOTHING_AT = (None, None, False)


def time_range(field_name: str, operator: str, at: datetime) -> TimeRange:
    """Glance's ``operator`` comparing ``field`` as the API shows it with ``at`` (naive UTC).

    The store keeps microseconds and both APIs show whole seconds (as Glance's database keeps them), so
    the comparison is with the shown value, ``floor(stored)``: ``eq:`` the shown time matches the image,
    ``gt:`` it does not. A bound past the last representable second leaves nothing (or everything)."""
    if operator not in TIME_OPERATORS:
        raise InvalidRequest(
            reason=f"unknown operator {operator[:20]!r} for {field_name}; use one of "
            f"{', '.join(TIME_OPERATORS)}"
        )
    floor = at.replace(microsecond=0)
    whole = at.microsecond == 0
    after_floor = _plus_second(floor)
    ceil = floor if whole else after_floor
    bounds: tuple[datetime | None, datetime | None, bool]
    if operator == "gt":  # shown > at  <=>  stored >= floor(at) + 1 s
        bounds = (after_floor, None, True) if after_floor else _NOTHING_AT
    elif operator == "gte":  # shown >= at  <=>  stored >= ceil(at)
        bounds = (ceil, None, True) if ceil else _NOTHING_AT
    elif operator == "lt":  # shown < at  <=>  stored < ceil(at)
        bounds = (None, ceil, True) if ceil else _EVERYTHING_AT
    elif operator == "lte":  # shown <= at  <=>  stored < floor(at) + 1 s
        bounds = (None, after_floor, True) if after_floor else _EVERYTHING_AT
    else:  # eq / neq: shown == at only for a whole second, stored in [at, at + 1 s)
        equal = operator == "eq"
        bounds = (floor, after_floor, equal) if whole else (None, None, not equal)
    return TimeRange(field_name, *bounds)


def _plus_second(at: datetime) -> datetime | None:
    try:
        return at + _SECOND
    except OverflowError:
        return None


@dataclass(frozen=True, slots=True)
class ListQuery:
    filters: dict[str, str | int] = field(default_factory=dict)  # equality on the image's own fields
    visibility: Visibility | None = None
    sort: tuple[SortKey, ...] = (SortKey("created_at", True), SortKey("id", True))
    limit: int = DEFAULT_LIMIT
    marker: str | None = None
    hidden: bool = False
    tags: tuple[str, ...] = ()  # the image must carry every one
    size_min: int | None = None  # images without a size (no data yet) match no size bound
    size_max: int | None = None
    protected: bool | None = None
    member_statuses: frozenset[MemberStatus] = ACCEPTED_ONLY  # which shared-with-me images appear
    every_visibility: bool = False  # Glance's visibility=all: other accounts' community images too
    one_of: dict[str, tuple[str, ...]] = field(default_factory=dict)  # Glance's ``in:``; () matches nothing
    time_ranges: tuple[TimeRange, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)  # equality on the extra (v2) properties


def parse_sort(text: str | None) -> tuple[SortKey, ...]:
    """``key[:asc|desc]`` items, comma separated; ``id`` is appended as the final tie-breaker."""
    items = (text if text is not None else DEFAULT_SORT).split(",")
    keys: list[SortKey] = []
    for item in items:
        key, _, direction = item.strip().partition(":")
        if key not in SORT_KEYS:
            raise InvalidRequest(reason=f"sort key {key[:40]!r} is not one of {', '.join(SORT_KEYS)}")
        if direction not in ("", "asc", "desc"):
            raise InvalidRequest(reason=f"sort direction {direction[:20]!r} must be asc or desc")
        if any(k.key == key for k in keys):
            raise InvalidRequest(reason=f"sort key {key!r} is given twice")
        # Glance sorts descending when a key has no direction.
        keys.append(SortKey(key, direction != "asc"))
    if not any(k.key == "id" for k in keys):
        keys.append(SortKey("id", keys[-1].descending))
    return tuple(keys)


def parse_limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()):
        raise InvalidRequest(reason=f"limit {text[:20]!r} is not an integer between 1 and {MAX_LIMIT}")
    # int() refuses more than 4,300 digits (ValueError); leading zeros aside, anything longer than
    # MAX_LIMIT's digits is out of range anyway, so it is refused before conversion.
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(MAX_LIMIT)) or not 1 <= int(digits) <= MAX_LIMIT:
        raise InvalidRequest(reason=f"limit {text[:20]!r} is not between 1 and {MAX_LIMIT}")
    return int(digits)


def parse_visibility(text: str | None) -> Visibility | None:
    return None if text is None or text == "" else visibility_named(text)


def visibility_named(value: object) -> Visibility:
    """The visibility a client names (a list filter, the v2 attribute)."""
    if isinstance(value, str) and value in _VISIBILITIES:
        return Visibility(value)
    raise InvalidRequest(reason="visibility must be one of public, community, shared, private")


def parse_bool(name: str, text: str | None) -> bool:
    if text is None:
        return False
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidRequest(reason=f"{name} must be true or false")


def parse_size(name: str, text: str) -> int:
    """A size bound in bytes: decimal digits only (no sign, spaces or ``_``, which int() would take)."""
    digits = text.lstrip("0") or "0"
    if not (text.isascii() and text.isdigit()) or len(digits) > len(str(MAX_SIZE)) or int(digits) > MAX_SIZE:
        raise InvalidRequest(reason=f"{name} {text[:30]!r} is not a number of bytes from 0 to {MAX_SIZE}")
    return int(digits)


def parse_count(name: str, text: str) -> int:
    """A whole number a filter compares with (``min_ram``, ``size``): decimal digits, at most MAX_SIZE."""
    digits = text.lstrip("0") or "0"
    if not (text.isascii() and text.isdigit()) or len(digits) > len(str(MAX_SIZE)) or int(digits) > MAX_SIZE:
        raise InvalidRequest(reason=f"{name} {text[:30]!r} is not a whole number from 0 to {MAX_SIZE}")
    return int(digits)


def parse_true_false(name: str, text: str) -> bool:
    """Glance's ``true``/``false`` filter values; any case, because the SDK sends Python's ``True``."""
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise InvalidRequest(reason=f"{name} {text[:20]!r} must be true or false")
    return lowered == "true"


def parse_member_status(text: str) -> frozenset[MemberStatus]:
    """Glance's ``member_status``: one membership status, or ``all`` of them."""
    if text == "all":
        return frozenset(MemberStatus)
    try:
        return frozenset({MemberStatus(text)})
    except ValueError:
        reason = f"member_status {text[:20]!r} must be pending, accepted, rejected or all"
        raise InvalidRequest(reason=reason) from None


def parse_tags(values: list[str]) -> tuple[str, ...]:
    """Repeated ``tag`` values, stripped as Glance strips them; an image holds at most GLANCE_MAX_TAGS tags,
    so more distinct ones could never match (and would only make the statement long)."""
    tags = tuple(dict.fromkeys(value.strip() for value in values))
    if len(tags) > GLANCE_MAX_TAGS:
        raise InvalidRequest(reason=f"at most {GLANCE_MAX_TAGS} distinct tag filters")
    return tags
