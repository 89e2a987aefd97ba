"""Whether an image carries every one of some tags (the JSON ``images.tags`` list), or some property values
(the JSON ``images.properties`` object), in SQL.

Tags and properties stay JSON in the image row (no table to keep in step with every write); each database
answers with its own JSON operators, so no row is filtered in Python. On PostgreSQL the properties'
containment is served by a GIN index on ``properties::jsonb`` (migration 0012).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, cast, exists, func
from sqlalchemy.dialects.postgresql import JSONB

from scp_images.store.sql.tables import images


def has_tags(dialect: str, tags: Sequence[str]) -> ColumnElement[bool]:
    if dialect == "postgresql":
        # jsonb containment: every string of the right-hand array is an element of the image's tags.
        return cast(images.c.tags, JSONB).contains(list(tags))
    return and_(*(_sqlite_has_tag(tag) for tag in tags))


def _sqlite_has_tag(tag: str) -> ColumnElement[bool]:
    each = func.json_each(images.c.tags).table_valued("value", "type").alias("tag")
    # Only string elements are tags (rows from before 0009 may hold SCP tag objects, never shown as tags).
    return exists().select_from(each).where(each.c.type == "text", each.c.value == tag)


def has_properties(
    dialect: str, wanted: Mapping[str, str], column: Any = images.c.properties
) -> ColumnElement[bool]:
    """Every ``wanted`` property is set to exactly that string (``column``: the table's, or a subquery's)."""
    if dialect == "postgresql":
        # The very expression the GIN index is built on, so the planner can use it.
        return cast(column, JSONB).contains(dict(wanted))
    return and_(*(_sqlite_has_property(column, name, value) for name, value in wanted.items()))


def _sqlite_has_property(column: Any, name: str, value: str) -> ColumnElement[bool]:
    each = func.json_each(column).table_valued("key", "value", "type").alias("property")
    return exists().select_from(each).where(each.c.key == name, each.c.type == "text", each.c.value == value)
