"""Whether an image carries every one of some tags, in SQL, on the JSON ``images.tags`` list.

Tags stay a JSON list in the image row (no tag table to keep in step with every write); each database
answers the membership question with its own JSON operators, so no row is filtered in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

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
