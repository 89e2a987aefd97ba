"""Replay protection and the rate limit shared by every process: a ``rate_limits`` table, and on
PostgreSQL both it and ``seen_signatures`` UNLOGGED.

Additive: a new table; UNLOGGED is a storage-only change (no column or constraint changes, old code
reads and writes the table as before). Both tables hold short-lived state that a database crash may
lose: PostgreSQL empties unlogged tables after a crash, which forgets seen signatures and rate state.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("access_key", sa.String(64), primary_key=True),
        sa.Column("tat", sa.Float, nullable=False),
        prefixes=["UNLOGGED"] if _postgres() else [],
    )
    if _postgres():
        op.execute("ALTER TABLE seen_signatures SET UNLOGGED")


def downgrade() -> None:
    if _postgres():
        op.execute("ALTER TABLE seen_signatures SET LOGGED")
    op.drop_table("rate_limits")
