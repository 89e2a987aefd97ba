"""Roles on keys: each access key holds one of Keystone's default roles (``reader``, ``member``,
``admin``); an account may be marked an operator account (only its keys may hold ``admin``); the audit
trail names the role an API call acted with.

Additive, with server defaults: code of the previous revision keeps inserting keys (they are members),
accounts (not operator accounts) and audit records (no role) unchanged. Plain ``ADD COLUMN`` on both
databases: the audit table is not rebuilt, so its append-only trigger stays.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("access_keys", sa.Column("role", sa.String(16), nullable=False, server_default="member"))
    op.add_column("accounts", sa.Column("operator", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("audit_records", sa.Column("role", sa.String(16)))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): no table is rebuilt, so the audit trigger stays.
    op.drop_column("audit_records", "role")
    op.drop_column("accounts", "operator")
    op.drop_column("access_keys", "role")
