"""Table definitions. Migrations in ``migrations/versions`` must create exactly this schema."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
    # Only an operator account's keys may hold the admin role (0010).
    Column("operator", Boolean, nullable=False, server_default=false()),
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
    # Keystone's default role the key holds: reader, member or admin (0010); read on every request.
    Column("role", String(16), nullable=False, server_default="member"),
    # How many times the key was disabled (0011): tokens and download links issued under a smaller count
    # are refused for good.
    Column("revocations", Integer, nullable=False, server_default="0"),
)

# Secrets the server generates for itself, one row each (0011): ``token``, the Keystone token secret.
# Stored as access-key secrets are (a Fernet token when secrets are encrypted at rest).
server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("secret", String(512), nullable=False),
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
    # Integrity scrub (0008): "corrupt" or "missing" while the stored bytes fail their row's checks;
    # the cycle the image was last checked in, and the claim of the worker checking it now.
    Column("data_flag", String(16)),
    Column("data_flagged_at", DateTime),
    Column("scrub_cycle", Integer, nullable=False, server_default="0"),
    Column("scrub_claimed_by", String(128)),
    Column("scrub_claimed_until", DateTime),
    Column("scrubbed_at", DateTime),
    # A converted image's original disk as it was received (0015): NULL when stored as received.
    Column("original_disk_format", String(16)),
    Column("original_size", BigInteger),
    Column("original_sha512", String(128)),
    Index("ix_images_created_at_id", "created_at", "id"),
    Index("ix_images_blob_key", "blob_key"),
    Index("ix_images_updated_at_id", "updated_at", "id"),
    Index("ix_images_name_id", "name", "id"),
    Index("ix_images_owner_created_at_id", "owner", "created_at", "id"),
    Index("ix_images_visibility_created_at_id", "visibility", "created_at", "id"),
    Index("ix_images_scrub_cycle", "scrub_cycle"),
)
# The v2 property filters' index (0012): containment on the properties as jsonb, PostgreSQL only.
Index(
    "ix_images_properties",
    text("(properties::jsonb)"),
    postgresql_using="gin",
    postgresql_ops={"properties": "jsonb_path_ops"},
    _table=images,
).ddl_if(dialect="postgresql")

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
    # Bytes of the account's image_size_total this attempt holds while it runs (quotas, 0006).
    Column("bytes_reserved", BigInteger, nullable=False, server_default="0"),
    # Who asked for the job, shown on the OpenStack edge as its task (0014); NULL task_type: not
    # (yet) a task, such as glance-direct's staging before its import call.
    Column("task_id", String(36)),
    Column("task_type", String(32)),  # TaskType: api_image_import or import
    Column("task_input", JSON),  # the task's input as shown (URLs redacted), built by domain/tasks.py
    Column("request_id", String(64)),
    Column("requested_by", String(255)),  # the user name of the key that asked
    # Conversion (0015): where the job is (ImportPhase, and its percent while converting), the input
    # format its caller declared (NULL: detect), and the received original once staged. original_key
    # names the staged original's blob: owned while the row names it, whatever attempt runs.
    Column("phase", String(16)),
    Column("percent", Integer),
    Column("input_format", String(16)),
    Column("original_format", String(16)),
    Column("original_size", BigInteger),
    Column("original_sha512", String(128)),
    Column("original_key", String(255)),
    Column("original_virtual_size", BigInteger),
    Column("member_offset", BigInteger),  # an OVA's disk: where its data lies inside the tar
    Column("member_size", BigInteger),
    Index("ix_image_imports_status", "status"),
    Index("ix_image_imports_staging_key", "staging_key"),
    Index("ix_image_imports_task_id", "task_id", unique=True),
    Index("ix_image_imports_created_at", "created_at"),
    Index("ix_image_imports_original_key", "original_key"),
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

# The operator's per-account quota overrides (0006): NULL is the setting's default, -1 unlimited.
account_quotas = Table(
    "account_quotas",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("image_count_total", BigInteger),
    Column("image_size_total", BigInteger),
    Column("image_count_uploading", BigInteger),
    Column("updated_at", DateTime, nullable=False),
)

seen_signatures = Table(
    "seen_signatures",
    metadata,
    Column("signature", String(64), primary_key=True),
    Column("expires_at", DateTime, nullable=False, index=True),
)

# The audit trail: append-only (an UPDATE is refused by a trigger, see migration 0007); only the retention
# sweep deletes. One HTTP request writes at most one record, so request_id is unique (NULLs are distinct).
audit_records = Table(
    "audit_records",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor", String(128)),
    Column("account_id", String(32)),
    Column("access_key", String(64)),
    Column("request_id", String(64)),
    Column("action", String(32), nullable=False),
    Column("image_id", String(36)),
    Column("member_id", String(64)),
    Column("status", Integer),
    Column("error_code", String(128)),
    Column("detail", String(512)),
    Column("role", String(16)),  # the role an API call acted with (0010); None for others
    Index("ix_audit_records_at_id", "at", "id"),
    Index("ix_audit_records_account_id_at", "account_id", "at"),
    Index("ix_audit_records_image_id_at", "image_id", "at"),
    Index("uq_audit_records_request_id", "request_id", unique=True),
)

# One row (id 1): the scrub cycle now running. An image is due while its ``scrub_cycle`` is below it.
scrub_state = Table(
    "scrub_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("cycle", Integer, nullable=False),
    Column("started_at", DateTime, nullable=False),
)

# One row per access key: the rate limit's theoretical arrival time (GCRA), shared by every process.
# UNLOGGED on PostgreSQL (migration 0005): losing it in a crash only forgives some requests.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("access_key", String(64), primary_key=True),
    Column("tat", Float, nullable=False),  # epoch seconds
)

# Metadata definitions (0013, Glance's metadefs): namespaces and what they hold. Children go with their
# namespace (ON DELETE CASCADE); names are unique where Glance's are.
metadef_namespaces = Table(
    "metadef_namespaces",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("namespace", String(80), nullable=False, unique=True),
    Column("display_name", String(80)),
    Column("description", String(500)),
    Column("visibility", String(16), nullable=False),
    Column("protected", Boolean, nullable=False),
    Column("owner", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_metadef_namespaces_owner", "owner"),
)


def _metadef_child(name: str, *columns: Column[Any]) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(
            "namespace_id",
            Integer,
            ForeignKey("metadef_namespaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("name", String(80), nullable=False),
        *columns,
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
        UniqueConstraint("namespace_id", "name", name=f"uq_{name}_namespace_id_name"),
    )


metadef_objects = _metadef_child(
    "metadef_objects",
    Column("description", Text),
    Column("required", JSON, nullable=False),  # names of required properties
    Column("properties", JSON, nullable=False),  # name -> property definition
)
metadef_properties = _metadef_child("metadef_properties", Column("definition", JSON, nullable=False))
metadef_tags = _metadef_child("metadef_tags")

# The resource types namespaces apply to: seeded with OS::Glance::Image (0013); associating a namespace
# with an unknown name adds one, as Glance does.
metadef_resource_types = Table(
    "metadef_resource_types",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(80), nullable=False, unique=True),
    Column("protected", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

metadef_namespace_resource_types = Table(
    "metadef_namespace_resource_types",
    metadata,
    Column(
        "namespace_id",
        Integer,
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("resource_type_id", Integer, ForeignKey("metadef_resource_types.id"), primary_key=True),
    Column("prefix", String(80)),
    Column("properties_target", String(80)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
