"""Initial schema: accounts, access keys, images, members, imports, seen signatures.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "access_keys",
        sa.Column("access_key", sa.String(64), primary_key=True),
        sa.Column("secret_key", sa.String(128), nullable=False),
        sa.Column(
            "account_id", sa.String(32), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("denied_actions", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_access_keys_account_id", "access_keys", ["account_id"])
    op.create_table(
        "images",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("protected", sa.Boolean, nullable=False),
        sa.Column("os_hidden", sa.Boolean, nullable=False),
        sa.Column("container_format", sa.String(16), nullable=False),
        sa.Column("disk_format", sa.String(16), nullable=False),
        sa.Column("min_disk", sa.Integer, nullable=False),
        sa.Column("min_ram", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("checksum", sa.String(32)),
        sa.Column("os_distro", sa.String(64)),
        sa.Column("os_hash_algo", sa.String(16)),
        sa.Column("os_hash_value", sa.String(128)),
        sa.Column("owner_account_name", sa.String(255)),
        sa.Column("owner_user_name", sa.String(255)),
        sa.Column("root_device_name", sa.String(64)),
        sa.Column("scp_image_type", sa.String(64)),
        sa.Column("scp_original_image_type", sa.String(64)),
        sa.Column("scp_k8s_version", sa.String(64)),
        sa.Column("scp_os_version", sa.String(64)),
        sa.Column("scp_os_build_version", sa.String(64)),
        sa.Column("scp_gpu_driver", sa.String(64)),
        sa.Column("size", sa.BigInteger),
        sa.Column("virtual_size", sa.BigInteger),
        sa.Column("url", sa.String(1024)),
        sa.Column("volumes", sa.Text),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("blob_key", sa.String(255)),
    )
    op.create_index("ix_images_created_at_id", "images", ["created_at", "id"])
    op.create_index("ix_images_updated_at_id", "images", ["updated_at", "id"])
    op.create_index("ix_images_name_id", "images", ["name", "id"])
    op.create_index("ix_images_owner_created_at_id", "images", ["owner", "created_at", "id"])
    op.create_index("ix_images_visibility_created_at_id", "images", ["visibility", "created_at", "id"])
    op.create_table(
        "image_members",
        sa.Column(
            "image_id", sa.String(36), sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("member_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_image_members_member_status", "image_members", ["member_id", "status"])
    op.create_table(
        "image_imports",
        sa.Column(
            "image_id", sa.String(36), sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("url", sa.String(1024)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("bytes_read", sa.BigInteger, nullable=False),
        sa.Column("bytes_total", sa.BigInteger),
        sa.Column("reason", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("heartbeat_at", sa.DateTime),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime),
        sa.Column("finished_at", sa.DateTime),
    )
    op.create_index("ix_image_imports_status", "image_imports", ["status"])
    op.create_table(
        "seen_signatures",
        sa.Column("signature", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_seen_signatures_expires_at", "seen_signatures", ["expires_at"])


def downgrade() -> None:
    for table in ("seen_signatures", "image_imports", "image_members", "images", "access_keys", "accounts"):
        op.drop_table(table)
