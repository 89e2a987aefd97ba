"""Table definitions. Migrations in ``migrations/versions`` must create exactly this schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key", String(64), primary_key=True),
    # A Fernet token ("fernet:" + ~140 characters) when secrets are encrypted at rest (0004).
    Column("secret_key", String(512), nullable=False),
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("user_name", String(255), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("denied_actions", JSON, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

images = Table(
    "images",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("owner", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("visibility", String(16), nullable=False),
    Column("protected", Boolean, nullable=False),
    Column("os_hidden", Boolean, nullable=False),
    Column("container_format", String(16), nullable=False),
    Column("disk_format", String(16), nullable=False),
    Column("min_disk", Integer, nullable=False),
    Column("min_ram", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("checksum", String(32)),
    Column("os_distro", String(64)),
    Column("os_hash_algo", String(16)),
    Column("os_hash_value", String(128)),
    Column("owner_account_name", String(255)),
    Column("owner_user_name", String(255)),
    Column("root_device_name", String(64)),
    Column("scp_image_type", String(64)),
    Column("scp_original_image_type", String(64)),
    Column("scp_k8s_version", String(64)),
    Column("scp_os_version", String(64)),
    Column("scp_os_build_version", String(64)),
    Column("scp_gpu_driver", String(64)),
    Column("size", BigInteger),
    Column("virtual_size", BigInteger),
    Column("url", String(1024)),
    Column("volumes", Text),
    Column("tags", JSON, nullable=False),  # Glance's string tags (kept since 0009)
    # Free-form string properties of the OpenStack Image API (0009); the SCP API does not show them.
    Column("properties", JSON, nullable=False, server_default="{}"),
    Column("blob_key", String(255)),
    Index("ix_images_created_at_id", "created_at", "id"),
    Index("ix_images_blob_key", "blob_key"),
    Index("ix_images_updated_at_id", "updated_at", "id"),
    Index("ix_images_name_id", "name", "id"),
    Index("ix_images_owner_created_at_id", "owner", "created_at", "id"),
    Index("ix_images_visibility_created_at_id", "visibility", "created_at", "id"),
)

image_members = Table(
    "image_members",
    metadata,
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_image_members_member_status", "member_id", "status"),
)

image_imports = Table(
    "image_imports",
    metadata,
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("url", String(1024)),
    Column("source", String(16), nullable=False),  # JobSource: url, upload or local
    Column("status", String(16), nullable=False),  # pending, running, succeeded, failed
    Column("bytes_read", BigInteger, nullable=False),
    Column("bytes_total", BigInteger),
    Column("reason", Text),
    Column("attempts", Integer, nullable=False),
    Column("claimed_by", String(128)),
    Column("heartbeat_at", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("started_at", DateTime),
    Column("finished_at", DateTime),
    # The blob the running attempt writes: naming it here, before its first byte, makes it owned.
    Column("staging_key", String(255)),
    Index("ix_image_imports_status", "status"),
    Index("ix_image_imports_staging_key", "staging_key"),
)

# Which buckets (and key prefixes) an account may import from; written only by operators.
import_grants = Table(
    "import_grants",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("bucket", String(63), primary_key=True),
    Column("prefix", String(1024), primary_key=True),  # "" is the whole bucket
    Column("created_at", DateTime, nullable=False),
)

seen_signatures = Table(
    "seen_signatures",
    metadata,
    Column("signature", String(64), primary_key=True),
    Column("expires_at", DateTime, nullable=False, index=True),
)
