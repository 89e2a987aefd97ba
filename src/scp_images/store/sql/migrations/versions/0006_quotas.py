"""Quotas per account: the operator's overrides, and the bytes an in-flight import or upload reserved.

Additive: a new table, and a column with a server default that older code never writes or reads.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_quotas",
        sa.Column(
            "account_id", sa.String(32), sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
        ),
        # NULL: the setting's default applies; -1: unlimited; otherwise the limit.
        sa.Column("image_count_total", sa.BigInteger),
        sa.Column("image_size_total", sa.BigInteger),
        sa.Column("image_count_uploading", sa.BigInteger),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    with op.batch_alter_table("image_imports") as batch:
        batch.add_column(sa.Column("bytes_reserved", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("image_imports") as batch:
        batch.drop_column("bytes_reserved")
    op.drop_table("account_quotas")
