"""Integrity scrub: a data flag on images (corrupt or missing bytes), the scrub's per-image claim and the
cycle it was last checked in, and the one-row table naming the current cycle.

Additive: old code ignores the new columns and table (it would serve a flagged image's bytes, as before).

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-01
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("data_flag", sa.String(16)))
        batch.add_column(sa.Column("data_flagged_at", sa.DateTime))
        batch.add_column(sa.Column("scrub_cycle", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("scrub_claimed_by", sa.String(128)))
        batch.add_column(sa.Column("scrub_claimed_until", sa.DateTime))
        batch.add_column(sa.Column("scrubbed_at", sa.DateTime))
        batch.create_index("ix_images_scrub_cycle", ["scrub_cycle"])
    state = op.create_table(
        "scrub_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "cycle": 1, "started_at": datetime(2000, 1, 1)}])


def downgrade() -> None:
    op.drop_table("scrub_state")
    with op.batch_alter_table("images") as batch:
        batch.drop_index("ix_images_scrub_cycle")
        for name in (
            "scrubbed_at",
            "scrub_claimed_until",
            "scrub_claimed_by",
            "scrub_cycle",
            "data_flagged_at",
            "data_flag",
        ):
            batch.drop_column(name)
