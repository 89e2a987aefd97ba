"""The audit trail: an append-only table of who changed what, with its outcome.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_REFUSE_UPDATE_SQLITE = """
CREATE TRIGGER audit_records_append_only BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END
"""
_REFUSE_UPDATE_FUNCTION = """
CREATE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit records are append-only'; END $$
"""
_REFUSE_UPDATE_POSTGRES = """
CREATE TRIGGER audit_records_append_only BEFORE UPDATE ON audit_records
FOR EACH ROW EXECUTE FUNCTION audit_records_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128)),
        sa.Column("account_id", sa.String(32)),
        sa.Column("access_key", sa.String(64)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("image_id", sa.String(36)),
        sa.Column("member_id", sa.String(64)),
        sa.Column("status", sa.Integer),
        sa.Column("error_code", sa.String(128)),
        sa.Column("detail", sa.String(512)),
    )
    op.create_index("ix_audit_records_at_id", "audit_records", ["at", "id"])
    op.create_index("ix_audit_records_account_id_at", "audit_records", ["account_id", "at"])
    op.create_index("ix_audit_records_image_id_at", "audit_records", ["image_id", "at"])
    op.create_index("uq_audit_records_request_id", "audit_records", ["request_id"], unique=True)
    # Append-only in the database too: no code path updates a record, and none can by mistake.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_REFUSE_UPDATE_FUNCTION)
        op.execute(_REFUSE_UPDATE_POSTGRES)
    else:
        op.execute(_REFUSE_UPDATE_SQLITE)


def downgrade() -> None:
    op.drop_table("audit_records")  # its trigger goes with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_records_append_only()")
