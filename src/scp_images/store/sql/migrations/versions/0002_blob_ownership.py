"""Blob ownership: the running attempt names the blob it writes; lookups by blob key are indexed.

Additive: old code ignores the new column.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("image_imports") as batch:
        batch.add_column(sa.Column("staging_key", sa.String(255)))
        batch.create_index("ix_image_imports_staging_key", ["staging_key"])
    op.create_index("ix_images_blob_key", "images", ["blob_key"])


def downgrade() -> None:
    op.drop_index("ix_images_blob_key", "images")
    with op.batch_alter_table("image_imports") as batch:
        batch.drop_index("ix_image_imports_staging_key")
        batch.drop_column("staging_key")
