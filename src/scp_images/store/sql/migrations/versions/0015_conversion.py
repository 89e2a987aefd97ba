"""Disk conversion (issue 21): an import job says where it is (phase, percent), which input format its
caller declared, and keeps the received original (format, size, sha512 and the staged blob's key) until
the conversion ends; a converted image keeps its original's format, size and sha512.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Additive and nullable: code of the previous revision keeps inserting rows unchanged.
    with op.batch_alter_table("image_imports") as batch:
        batch.add_column(sa.Column("phase", sa.String(16)))
        batch.add_column(sa.Column("percent", sa.Integer))
        batch.add_column(sa.Column("input_format", sa.String(16)))
        batch.add_column(sa.Column("original_format", sa.String(16)))
        batch.add_column(sa.Column("original_size", sa.BigInteger))
        batch.add_column(sa.Column("original_sha512", sa.String(128)))
        batch.add_column(sa.Column("original_key", sa.String(255)))
        batch.add_column(sa.Column("original_virtual_size", sa.BigInteger))
        batch.add_column(sa.Column("member_offset", sa.BigInteger))
        batch.add_column(sa.Column("member_size", sa.BigInteger))
        batch.create_index("ix_image_imports_original_key", ["original_key"])
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("original_disk_format", sa.String(16)))
        batch.add_column(sa.Column("original_size", sa.BigInteger))
        batch.add_column(sa.Column("original_sha512", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        for column in ("original_sha512", "original_size", "original_disk_format"):
            batch.drop_column(column)
    with op.batch_alter_table("image_imports") as batch:
        batch.drop_index("ix_image_imports_original_key")
        for column in (
            "member_size",
            "member_offset",
            "original_virtual_size",
            "original_key",
            "original_sha512",
            "original_size",
            "original_format",
            "input_format",
            "percent",
            "phase",
        ):
            batch.drop_column(column)
