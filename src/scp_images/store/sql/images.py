"""Image rows: load with the caller's membership, compare-and-set updates, keyset-paginated lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    delete,
    exists,
    false,
    insert,
    not_,
    or_,
    select,
    true,
    tuple_,
    union_all,
    update,
)

from scp_images.domain.access import ListScope
from scp_images.domain.image import DataFlag, Image, ImageStatus, Visibility, check_transition
from scp_images.domain.listing import ListQuery, SortKey, TimeRange
from scp_images.domain.member import MemberStatus
from scp_images.store.sql.database import Database
from scp_images.store.sql.json_match import has_properties, has_tags
from scp_images.store.sql.tables import image_members, images

_FIELDS = tuple(f.name for f in fields(Image))
# Every column the domain has (tags and properties are JSON: a list and an object of strings).
_COLUMNS = tuple(images.c[name] for name in _FIELDS)


_FIELD_COUNT = len(_FIELDS)
_STATUS_AT = _FIELDS.index("status")
_VISIBILITY_AT = _FIELDS.index("visibility")
_DATA_FLAG_AT = _FIELDS.index("data_flag")
_TAGS_AT = _FIELDS.index("tags")
_PROPERTIES_AT = _FIELDS.index("properties")
_STATUSES = {s.value: s for s in ImageStatus}
_VISIBILITIES = {v.value: v for v in Visibility}


def _row_to_image(row: Any) -> Image:
    # By position: the columns are selected in the order of the dataclass's fields, and a Row's
    # attribute lookup costs about as much as building the Image (it decides a list of 1,000's time).
    values = list(row[:_FIELD_COUNT])
    status, visibility = values[_STATUS_AT], values[_VISIBILITY_AT]
    # A dict lookup instead of Enum.__call__ (a tenth of a list's time); a value not in it still raises.
    values[_STATUS_AT] = _STATUSES.get(status) or ImageStatus(status)
    values[_VISIBILITY_AT] = _VISIBILITIES.get(visibility) or Visibility(visibility)
    flag = values[_DATA_FLAG_AT]
    values[_DATA_FLAG_AT] = DataFlag(flag) if flag else None
    # Rows from before 0009 may hold SCP tag objects that were never shown: only strings are tags.
    tags = values[_TAGS_AT]
    values[_TAGS_AT] = tuple(t for t in tags if isinstance(t, str)) if tags else ()  # no generator for none
    values[_PROPERTIES_AT] = dict(values[_PROPERTIES_AT] or {})
    return Image(*values)


def _image_values(image: Image) -> dict[str, Any]:
    values = {name: getattr(image, name) for name in _FIELDS}
    values["status"] = image.status.value
    values["visibility"] = image.visibility.value
    values["data_flag"] = image.data_flag.value if image.data_flag else None
    values["tags"] = list(image.tags)
    return values


def insert_image(conn: Connection, image: Image) -> None:
    conn.execute(insert(images).values(**_image_values(image)))


def get_image(conn: Connection, image_id: str, *, for_update: bool = False) -> Image | None:
    query = select(*_COLUMNS).where(images.c.id == image_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _row_to_image(row) if row else None


# Built once: constructing a statement costs more than running it on the hot show path.
_IMAGE_FOR = (
    select(*_COLUMNS, image_members.c.status.label("member_status"))
    .select_from(
        images.outerjoin(
            image_members,
            (image_members.c.image_id == images.c.id)
            & (image_members.c.member_id == bindparam("account_id")),
        )
    )
    .where(images.c.id == bindparam("image_id"))
)


def get_image_for(
    conn: Connection, image_id: str, account_id: str
) -> tuple[Image | None, MemberStatus | None]:
    """The image and the caller's membership status on it, in one round trip."""
    row = conn.execute(_IMAGE_FOR, {"image_id": image_id, "account_id": account_id}).first()
    return _image_and_membership(row)


def read_image_for(db: Database, image_id: str, account_id: str) -> tuple[Image | None, MemberStatus | None]:
    """``get_image_for`` as a statement of its own (the show): no transaction around it."""
    row = db.first_row(_IMAGE_FOR, {"image_id": image_id, "account_id": account_id})
    return _image_and_membership(row)


def _image_and_membership(row: Any) -> tuple[Image | None, MemberStatus | None]:
    if row is None:
        return None, None
    member_status = row[_FIELD_COUNT]
    return _row_to_image(row), MemberStatus(member_status) if member_status else None


def _column_values(changes: dict[str, Any]) -> dict[str, Any]:
    values = {k: (v.value if isinstance(v, Visibility) else v) for k, v in changes.items()}
    if "tags" in values:
        values["tags"] = list(values["tags"])
    return values


def update_image(
    conn: Connection, image_id: str, changes: dict[str, Any], *, while_status: ImageStatus | None = None
) -> bool:
    """Change fields other than the status, while the image is still in ``while_status`` when given.
    False when there is no such image (or it lost that race)."""
    assert "status" not in changes, "status changes go through move()"
    values = _column_values(changes)
    query = update(images).where(images.c.id == image_id).values(**values)
    if while_status is not None:
        query = query.where(images.c.status == while_status.value)
    return conn.execute(query).rowcount == 1


def move(
    conn: Connection,
    image_id: str,
    source: ImageStatus,
    target: ImageStatus,
    changes: dict[str, Any] | None = None,
) -> bool:
    """The one way an image's status changes: allowed by the domain's table, applied by compare-and-set
    from ``source``. False when the image is gone or no longer in ``source``."""
    check_transition(image_id, source, target)
    values = _column_values(changes or {})
    query = (
        update(images)
        .where(images.c.id == image_id, images.c.status == source.value)
        .values(status=target.value, **values)
    )
    return conn.execute(query).rowcount == 1


def delete_image(conn: Connection, image_id: str) -> bool:
    return conn.execute(delete(images).where(images.c.id == image_id)).rowcount == 1


def blob_keys(conn: Connection) -> set[str]:
    rows = conn.execute(select(images.c.blob_key).where(images.c.blob_key.is_not(None)))
    return {r.blob_key for r in rows}


def blob_key_owned(conn: Connection, key: str) -> bool:
    return conn.execute(select(images.c.id).where(images.c.blob_key == key).limit(1)).first() is not None


def _scope_parts(scope: ListScope, *, disjoint: bool = False) -> list[ColumnElement[bool]]:
    """The sets a list draws from: the caller's own images, then public, community and shared-with-me
    ones (``ListScope`` says which); ``disjoint`` leaves the caller's own out of the later sets."""
    own: ColumnElement[bool] | None = None
    if scope.include_own:
        own = images.c.owner == scope.account_id
        if scope.own_visibilities is not None:
            own = and_(own, images.c.visibility.in_([v.value for v in scope.own_visibilities]))
    others: list[ColumnElement[bool]] = []
    if scope.every_owner:
        others.append(images.c.visibility.in_(sorted(v.value for v in scope.every_owner)))
    if scope.public:
        others.append(images.c.visibility == Visibility.PUBLIC.value)
    if scope.community:
        others.append(images.c.visibility == Visibility.COMMUNITY.value)
    if scope.shared_member_statuses:
        membership = exists().where(
            image_members.c.image_id == images.c.id,
            image_members.c.member_id == scope.account_id,
            image_members.c.status.in_([s.value for s in scope.shared_member_statuses]),
        )
        others.append(
            and_(
                images.c.visibility == Visibility.SHARED.value, images.c.owner != scope.account_id, membership
            )
        )
    if own is None:
        return others
    return [own, *((and_(part, not_(own)) for part in others) if disjoint else others)]


def _scope_condition(scope: ListScope) -> ColumnElement[bool]:
    parts = _scope_parts(scope)
    return or_(*parts) if parts else false()


def _order_by(sort: Sequence[SortKey], columns: Any = images.c) -> list[Any]:
    order = []
    for key in sort:
        column = columns[key.key]
        ordered = column.desc() if key.descending else column.asc()
        if column.nullable:
            # The databases disagree on where nulls go by default; a NULLS clause on a NOT NULL column
            # would stop PostgreSQL from walking the (key, id) index, so it is added only where needed.
            ordered = ordered.nulls_last() if key.descending else ordered.nulls_first()
        order.append(ordered)
    return order


def _equal(column: Any, value: Any) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _after(column: Any, value: Any, descending: bool) -> ColumnElement[bool]:
    """Rows strictly after ``value`` on one key, with nulls first ascending and last descending."""
    if descending:
        return false() if value is None else or_(column < value, column.is_(None))
    return column.is_not(None) if value is None else column > value


def _keyset_condition(sort: Sequence[SortKey], marker: Image) -> ColumnElement[bool]:
    columns = [images.c[k.key] for k in sort]
    values = [getattr(marker, k.key) for k in sort]
    values = [v.value if isinstance(v, ImageStatus | Visibility) else v for v in values]
    same_direction = len({k.descending for k in sort}) == 1
    if same_direction and not any(c.nullable for c in columns):
        # A row-value comparison lets the planner walk the (key, id) index straight to the marker.
        row = tuple_(*columns)
        return row < tuple_(*values) if sort[0].descending else row > tuple_(*values)
    branches = []
    for i, key in enumerate(sort):
        prefix = [_equal(columns[j], values[j]) for j in range(i)]
        branches.append(and_(*prefix, _after(columns[i], values[i], key.descending)))
    return or_(*branches)


def _filter_conditions(dialect: str, query: ListQuery) -> list[ColumnElement[bool]]:
    conditions = [images.c.os_hidden == query.hidden]
    conditions += [images.c[key] == value for key, value in query.filters.items()]
    conditions += [images.c[key].in_(values) for key, values in query.one_of.items()]
    conditions += [_time_condition(bound) for bound in query.time_ranges]
    if query.visibility is not None:
        conditions.append(images.c.visibility == query.visibility.value)
    if query.tags:
        conditions.append(has_tags(dialect, query.tags))
    # A NULL size compares as unknown, so an image without data matches no size bound (as in Glance).
    if query.size_min is not None:
        conditions.append(images.c.size >= query.size_min)
    if query.size_max is not None:
        conditions.append(images.c.size <= query.size_max)
    if query.protected is not None:
        conditions.append(images.c.protected == query.protected)
    return conditions


def _time_condition(bound: TimeRange) -> ColumnElement[bool]:
    column = images.c[bound.field]
    parts = []
    if bound.start is not None:
        parts.append(column >= bound.start)
    if bound.end is not None:
        parts.append(column < bound.end)
    inside = and_(true(), *parts)
    return inside if bound.inside else not_(inside)


def list_images(conn: Connection, scope: ListScope, query: ListQuery, marker: Image | None) -> list[Image]:
    dialect = conn.dialect.name
    conditions = _filter_conditions(dialect, query)
    if marker is not None:
        conditions.append(_keyset_condition(query.sort, marker))
    if dialect == "sqlite":
        if query.properties:
            conditions.append(has_properties(dialect, query.properties))
        return _images(conn, _sqlite_page(scope, query, conditions))
    statement = select(*_COLUMNS).where(_scope_condition(scope), *conditions)
    if query.properties:
        return _list_with_properties(conn, statement, query)
    return _images(conn, statement.order_by(*_order_by(query.sort)).limit(query.limit))


def _sqlite_page(scope: ListScope, query: ListQuery, conditions: list[ColumnElement[bool]]) -> Any:
    """One page as the best of each scope part's own page (UNION ALL). With the parts ORed, SQLite
    gathers every visible row through the (owner, …) and (visibility, …) indexes and sorts them all (a
    list of 1,000 out of 10,000 sorted 10,000 rows); each part alone walks its index in order and stops
    at a page, so at most a page per part is sorted."""
    parts = _scope_parts(scope, disjoint=True) or [false()]
    pages = [
        select(*_COLUMNS)
        .where(part, *conditions)
        .order_by(*_order_by(query.sort))
        .limit(query.limit)
        .subquery()
        .select()
        for part in parts
    ]
    if len(pages) == 1:
        return (
            select(*_COLUMNS).where(parts[0], *conditions).order_by(*_order_by(query.sort)).limit(query.limit)
        )
    merged = union_all(*pages).subquery("visible")
    return select(*merged.c).order_by(*_order_by(query.sort, merged.c)).limit(query.limit)


def _images(conn: Connection, statement: Any) -> list[Image]:
    # all(): the driver's fetchall makes the rows in one call, where iterating fetches them one by one
    # (on PostgreSQL a fifth of the rows' cost).
    return [_row_to_image(row) for row in conn.execute(statement).all()]


# A property filter on PostgreSQL first walks the sort's index for at most this many rows (20 to 60 ms at
# 1M images), or 100 per row of the page if more: enough to fill a page at a property on 1 image in 100
# spread over time.
PROPERTY_WALK_ROWS = 20_000
# Sorts an index walks in order: (key, id) both one way (``tables.py``), or the primary key alone.
_WALKED_SORT_KEYS = frozenset({"created_at", "updated_at", "name", "id"})


def _list_with_properties(conn: Connection, statement: Any, query: ListQuery) -> list[Image]:
    """A property filter's page, whichever way the matches lie in the sort order.

    Left to itself, PostgreSQL walks the sort's index and tests each row when it expects the matches to
    be spread evenly; when they are not (1% of a million images, all old), the first page reads nearly
    the whole table (5 s). So the walk is bounded: a page it fills is the answer; otherwise the matches
    are rare in the order's first rows, and the GIN index on the properties (0012) finds them all, behind
    an ``OFFSET 0`` fence that keeps the planner from walking again, and a top-N sort orders them."""
    wanted = query.properties
    if _walks_an_index(query.sort):
        budget = max(PROPERTY_WALK_ROWS, 100 * query.limit)
        walked = statement.order_by(*_order_by(query.sort)).limit(budget).subquery("walked")
        page = (
            select(*walked.c)
            .where(has_properties("postgresql", wanted, walked.c.properties))
            .order_by(*_order_by(query.sort, walked.c))
            .limit(query.limit)
        )
        found = _images(conn, page)
        if len(found) == query.limit:
            return found
    matching = statement.where(has_properties("postgresql", wanted)).offset(0).subquery("matching")
    page = select(*matching.c).order_by(*_order_by(query.sort, matching.c)).limit(query.limit)
    return _images(conn, page)


def _walks_an_index(sort: Sequence[SortKey]) -> bool:
    keys = [key.key for key in sort]
    one_way = len({key.descending for key in sort}) == 1
    return one_way and keys[-1] == "id" and len(keys) <= 2 and keys[0] in _WALKED_SORT_KEYS


def images_importing_since(conn: Connection, before: Any) -> list[Image]:
    rows = conn.execute(
        select(*_COLUMNS).where(images.c.status == ImageStatus.IMPORTING.value, images.c.updated_at < before)
    )
    return [_row_to_image(r) for r in rows]
