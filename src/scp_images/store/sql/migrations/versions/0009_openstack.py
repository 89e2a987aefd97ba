"""OpenStack Image API v2: images get free-form string properties (``tags`` exists and is now kept).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Additive, with a server default: code of the previous revision keeps inserting rows unchanged.
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("properties", sa.JSON, nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_column("properties")
