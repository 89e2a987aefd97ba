"""Glance's property filters on a large list: a GIN index on ``images.properties`` (PostgreSQL only).

A v2 list filter on an extra property (``?kernel_id=x``) is ``properties::jsonb @> '{"kernel_id": "x"}'``
(``store/sql/json_match.py``); this index answers it for any property name without reading the rows
that lack it. ``jsonb_path_ops``: smaller and faster than the default operator class, and containment is
the only question asked. SQLite has no such index; its lists stay small.

Additive: an index only; code of the previous revision runs unchanged beside it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_INDEX = "ix_images_properties"


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    if _postgres():
        op.execute(f"CREATE INDEX {_INDEX} ON images USING gin ((properties::jsonb) jsonb_path_ops)")


def downgrade() -> None:
    if _postgres():
        op.execute(f"DROP INDEX {_INDEX}")
