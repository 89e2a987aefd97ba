"""Access-key secrets may be stored as Fernet tokens: widen access_keys.secret_key to 512 characters.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot ALTER a column's type, so Alembic copies the table (env.py sets
    # render_as_batch); PostgreSQL gets a plain ALTER COLUMN.
    with op.batch_alter_table("access_keys") as batch:
        batch.alter_column(
            "secret_key", existing_type=sa.String(128), type_=sa.String(512), existing_nullable=False
        )


def downgrade() -> None:
    # Only safe once every secret is plain again (a Fernet token does not fit in 128 characters).
    with op.batch_alter_table("access_keys") as batch:
        batch.alter_column(
            "secret_key", existing_type=sa.String(512), type_=sa.String(128), existing_nullable=False
        )
