"""Tokens revoked for good, and the deployment's own token secret.

``access_keys.revocations`` counts a key's disables: tokens and download links carry the count they were
issued under and die once it grows, so enabling the key again brings none of them back.
``server_secrets`` holds secrets the server generates for itself (the Keystone token secret), stored as
access-key secrets are (a Fernet token when ``SCP_IMAGES_SECRET_ENCRYPTION_KEY`` is set).

Additive, with a server default: code of the previous revision keeps inserting keys unchanged (and, not
reading the count, would still honour tokens issued before a disable).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_keys") as batch:
        batch.add_column(sa.Column("revocations", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("secret", sa.String(512), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("server_secrets")
    with op.batch_alter_table("access_keys") as batch:
        batch.drop_column("revocations")
