"""Metadata definitions (Glance's metadefs): namespaces, their objects, properties and tags, the
resource types they apply to (seeded with OS::Glance::Image) and the associations.

Additive: new tables only; older code never reads them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_SEEDED_AT = datetime(2026, 12, 7)


def _child(name: str, *columns: sa.Column) -> None:  # type: ignore[type-arg]
    op.create_table(
        name,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "namespace_id",
            sa.Integer,
            sa.ForeignKey("metadef_namespaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(80), nullable=False),
        *columns,
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("namespace_id", "name", name=f"uq_{name}_namespace_id_name"),
    )


def upgrade() -> None:
    op.create_table(
        "metadef_namespaces",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("namespace", sa.String(80), nullable=False, unique=True),
        sa.Column("display_name", sa.String(80)),
        sa.Column("description", sa.String(500)),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("protected", sa.Boolean, nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_metadef_namespaces_owner", "metadef_namespaces", ["owner"])
    _child(
        "metadef_objects",
        sa.Column("description", sa.Text),
        sa.Column("required", sa.JSON, nullable=False),
        sa.Column("properties", sa.JSON, nullable=False),
    )
    _child("metadef_properties", sa.Column("definition", sa.JSON, nullable=False))
    _child("metadef_tags")
    resource_types = op.create_table(
        "metadef_resource_types",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(80), nullable=False, unique=True),
        sa.Column("protected", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "metadef_namespace_resource_types",
        sa.Column(
            "namespace_id",
            sa.Integer,
            sa.ForeignKey("metadef_namespaces.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "resource_type_id", sa.Integer, sa.ForeignKey("metadef_resource_types.id"), primary_key=True
        ),
        sa.Column("prefix", sa.String(80)),
        sa.Column("properties_target", sa.String(80)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    # The one resource type this service's definitions apply to (docs/decisions.md): Tempest and
    # Horizon start from the list of resource types.
    row = {"name": "OS::Glance::Image", "protected": True, "created_at": _SEEDED_AT, "updated_at": _SEEDED_AT}
    op.bulk_insert(resource_types, [row])


def downgrade() -> None:
    op.drop_table("metadef_namespace_resource_types")
    op.drop_table("metadef_resource_types")
    op.drop_table("metadef_tags")
    op.drop_table("metadef_properties")
    op.drop_table("metadef_objects")
    op.drop_index("ix_metadef_namespaces_owner", "metadef_namespaces")
    op.drop_table("metadef_namespaces")
