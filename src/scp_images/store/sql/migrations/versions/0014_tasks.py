"""Import jobs say who asked for them, so that the OpenStack edge can show them as Glance tasks.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Additive and nullable: code of the previous revision keeps inserting rows unchanged (its jobs are
    # simply not tasks).
    with op.batch_alter_table("image_imports") as batch:
        batch.add_column(sa.Column("task_id", sa.String(36)))
        batch.add_column(sa.Column("task_type", sa.String(32)))
        batch.add_column(sa.Column("task_input", sa.JSON))
        batch.add_column(sa.Column("request_id", sa.String(64)))
        batch.add_column(sa.Column("requested_by", sa.String(255)))
        batch.create_index("ix_image_imports_task_id", ["task_id"], unique=True)
        batch.create_index("ix_image_imports_created_at", ["created_at"])
    # Earlier jobs become tasks named by their image's id (a UUID, unique: one job per image).
    op.execute(
        "UPDATE image_imports SET task_id = image_id, task_type = 'api_image_import' WHERE task_id IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("image_imports") as batch:
        batch.drop_index("ix_image_imports_created_at")
        batch.drop_index("ix_image_imports_task_id")
        for column in ("requested_by", "request_id", "task_input", "task_type", "task_id"):
            batch.drop_column(column)
