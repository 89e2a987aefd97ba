"""Metadata definitions in SQL: ``SqlMetadefRecords`` is ``MetadefRecords`` (services/metadefs.py) over
one connection, inside the service's transaction. Names are unique per namespace by the database's
keys; a lost insert race is ``MetadefExists``, never an IntegrityError."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select, update

from scp_images.domain.errors import MetadefExists
from scp_images.domain.metadefs import (
    Association,
    MetadefObject,
    Namespace,
    PropertyDefinition,
    ResourceType,
    Tag,
    Visibility,
)
from scp_images.store.sql.conflicts import integrity_as
from scp_images.store.sql.tables import (
    metadef_namespace_resource_types as links,
)
from scp_images.store.sql.tables import (
    metadef_namespaces as namespaces,
)
from scp_images.store.sql.tables import (
    metadef_objects,
    metadef_properties,
    metadef_resource_types,
    metadef_tags,
)

_CHILDREN = {"objects": metadef_objects, "properties": metadef_properties, "tags": metadef_tags}
_SINGULAR = {"objects": "object", "properties": "property", "tags": "tag"}


def _namespace(row: Any) -> Namespace:
    return Namespace(
        row.namespace,
        row.display_name,
        row.description,
        Visibility(row.visibility),
        bool(row.protected),
        row.owner,
        row.created_at,
        row.updated_at,
    )


def _object(row: Any) -> MetadefObject:
    return MetadefObject(
        row.name, row.description, tuple(row.required), dict(row.properties), row.created_at, row.updated_at
    )


def _property(row: Any) -> PropertyDefinition:
    return PropertyDefinition(row.name, dict(row.definition), row.created_at, row.updated_at)


def _tag(row: Any) -> Tag:
    return Tag(row.name, row.created_at, row.updated_at)


class SqlMetadefRecords:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- namespaces ---

    def namespace_id(self, name: str) -> tuple[int, Namespace] | None:
        row = self._conn.execute(select(namespaces).where(namespaces.c.namespace == name)).first()
        return (row.id, _namespace(row)) if row else None

    def count_namespaces(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(namespaces)).scalar_one())

    def list_namespaces(
        self, visible_to: str | None, visibility: Visibility | None, resource_types: tuple[str, ...]
    ) -> list[tuple[int, Namespace]]:
        """Every namespace (``visible_to`` None: an admin) or the public ones and ``visible_to``'s."""
        query = select(namespaces)
        if visible_to is not None:
            query = query.where(
                (namespaces.c.visibility == Visibility.PUBLIC.value) | (namespaces.c.owner == visible_to)
            )
        if visibility is not None:
            query = query.where(namespaces.c.visibility == visibility.value)
        if resource_types:
            linked = (
                select(links.c.namespace_id)
                .join(metadef_resource_types, metadef_resource_types.c.id == links.c.resource_type_id)
                .where(metadef_resource_types.c.name.in_(resource_types))
            )
            query = query.where(namespaces.c.id.in_(linked))
        query = query.order_by(namespaces.c.created_at.desc(), namespaces.c.id.desc())
        return [(r.id, _namespace(r)) for r in self._conn.execute(query)]

    def insert_namespace(self, namespace: Namespace) -> int:
        values = {
            "namespace": namespace.namespace,
            "display_name": namespace.display_name,
            "description": namespace.description,
            "visibility": namespace.visibility.value,
            "protected": namespace.protected,
            "owner": namespace.owner,
            "created_at": namespace.created_at,
            "updated_at": namespace.updated_at,
        }
        with integrity_as(MetadefExists(kind="namespace", name=namespace.namespace)):
            result = self._conn.execute(insert(namespaces).values(**values).returning(namespaces.c.id))
            return int(result.scalar_one())

    def replace_namespace(self, namespace_id: int, namespace: Namespace) -> None:
        values = {
            "namespace": namespace.namespace,
            "display_name": namespace.display_name,
            "description": namespace.description,
            "visibility": namespace.visibility.value,
            "protected": namespace.protected,
            "owner": namespace.owner,
            "updated_at": namespace.updated_at,
        }
        with integrity_as(MetadefExists(kind="namespace", name=namespace.namespace)):
            self._conn.execute(update(namespaces).where(namespaces.c.id == namespace_id).values(**values))

    def delete_namespace(self, namespace_id: int) -> None:
        """Its objects, properties, tags and associations go with it (ON DELETE CASCADE)."""
        self._conn.execute(delete(namespaces).where(namespaces.c.id == namespace_id))

    # --- objects, properties, tags: rows of one namespace, unique by name ---

    def count(self, kind: str, namespace_id: int) -> int:
        table = _CHILDREN[kind]
        query = select(func.count()).select_from(table).where(table.c.namespace_id == namespace_id)
        return int(self._conn.execute(query).scalar_one())

    def _rows(self, table: Table, namespace_id: int) -> Any:
        return self._conn.execute(
            select(table).where(table.c.namespace_id == namespace_id).order_by(table.c.name)
        )

    def _row(self, table: Table, namespace_id: int, name: str) -> Any:
        return self._conn.execute(
            select(table).where(table.c.namespace_id == namespace_id, table.c.name == name)
        ).first()

    def _insert(self, kind: str, namespace_id: int, name: str, values: dict[str, Any], at: datetime) -> None:
        row = {"namespace_id": namespace_id, "name": name, "created_at": at, "updated_at": at, **values}
        with integrity_as(MetadefExists(kind=_SINGULAR[kind], name=name)):
            self._conn.execute(insert(_CHILDREN[kind]).values(**row))

    def _replace(
        self, kind: str, namespace_id: int, name: str, new_name: str, values: dict[str, Any], at: datetime
    ) -> bool:
        table = _CHILDREN[kind]
        with integrity_as(MetadefExists(kind=_SINGULAR[kind], name=new_name)):
            result = self._conn.execute(
                update(table)
                .where(table.c.namespace_id == namespace_id, table.c.name == name)
                .values(name=new_name, updated_at=at, **values)
            )
        return result.rowcount == 1

    def remove(self, kind: str, namespace_id: int, name: str | None = None) -> int:
        """One row by name, or (``name`` None) every row of the kind in the namespace."""
        table = _CHILDREN[kind]
        statement = delete(table).where(table.c.namespace_id == namespace_id)
        if name is not None:
            statement = statement.where(table.c.name == name)
        return int(self._conn.execute(statement).rowcount)

    def objects(self, namespace_id: int) -> list[MetadefObject]:
        return [_object(r) for r in self._rows(metadef_objects, namespace_id)]

    def get_object(self, namespace_id: int, name: str) -> MetadefObject | None:
        row = self._row(metadef_objects, namespace_id, name)
        return _object(row) if row else None

    @staticmethod
    def _object_values(obj: MetadefObject) -> dict[str, Any]:
        return {"description": obj.description, "required": list(obj.required), "properties": obj.properties}

    def insert_object(self, namespace_id: int, obj: MetadefObject, at: datetime) -> None:
        self._insert("objects", namespace_id, obj.name, self._object_values(obj), at)

    def replace_object(self, namespace_id: int, name: str, obj: MetadefObject, at: datetime) -> bool:
        return self._replace("objects", namespace_id, name, obj.name, self._object_values(obj), at)

    def properties(self, namespace_id: int) -> list[PropertyDefinition]:
        return [_property(r) for r in self._rows(metadef_properties, namespace_id)]

    def get_property(self, namespace_id: int, name: str) -> PropertyDefinition | None:
        row = self._row(metadef_properties, namespace_id, name)
        return _property(row) if row else None

    def insert_property(self, namespace_id: int, prop: PropertyDefinition, at: datetime) -> None:
        self._insert("properties", namespace_id, prop.name, {"definition": prop.schema}, at)

    def replace_property(self, namespace_id: int, name: str, prop: PropertyDefinition, at: datetime) -> bool:
        return self._replace("properties", namespace_id, name, prop.name, {"definition": prop.schema}, at)

    def tags(self, namespace_id: int) -> list[Tag]:
        return [_tag(r) for r in self._rows(metadef_tags, namespace_id)]

    def get_tag(self, namespace_id: int, name: str) -> Tag | None:
        row = self._row(metadef_tags, namespace_id, name)
        return _tag(row) if row else None

    def insert_tag(self, namespace_id: int, name: str, at: datetime) -> None:
        self._insert("tags", namespace_id, name, {}, at)

    def rename_tag(self, namespace_id: int, name: str, new_name: str, at: datetime) -> bool:
        return self._replace("tags", namespace_id, name, new_name, {}, at)

    # --- resource types and associations ---

    def resource_types(self) -> list[ResourceType]:
        rows = self._conn.execute(select(metadef_resource_types).order_by(metadef_resource_types.c.name))
        return [ResourceType(r.name, r.created_at, r.updated_at) for r in rows]

    def resource_type_id(self, name: str, at: datetime, limit: int) -> int | None:
        """The resource type's id, created when it is new (None: there are ``limit`` already)."""
        table = metadef_resource_types
        found = self._conn.execute(select(table.c.id).where(table.c.name == name)).scalar()
        if found is not None:
            return int(found)
        if self._conn.execute(select(func.count()).select_from(table)).scalar_one() >= limit:
            return None
        values = {"name": name, "protected": False, "created_at": at, "updated_at": at}
        with integrity_as(MetadefExists(kind="resource type", name=name)):
            return int(self._conn.execute(insert(table).values(**values).returning(table.c.id)).scalar_one())

    def associations(self, namespace_id: int) -> list[Association]:
        rows = self._conn.execute(
            select(metadef_resource_types.c.name, links)
            .join(metadef_resource_types, metadef_resource_types.c.id == links.c.resource_type_id)
            .where(links.c.namespace_id == namespace_id)
            .order_by(metadef_resource_types.c.name)
        )
        return [Association(r.name, r.prefix, r.properties_target, r.created_at, r.updated_at) for r in rows]

    def count_associations(self, namespace_id: int) -> int:
        query = select(func.count()).select_from(links).where(links.c.namespace_id == namespace_id)
        return int(self._conn.execute(query).scalar_one())

    def insert_association(
        self, namespace_id: int, type_id: int, association: Association, at: datetime
    ) -> None:
        values = {
            "namespace_id": namespace_id,
            "resource_type_id": type_id,
            "prefix": association.prefix,
            "properties_target": association.properties_target,
            "created_at": at,
            "updated_at": at,
        }
        with integrity_as(MetadefExists(kind="resource type association", name=association.name)):
            self._conn.execute(insert(links).values(**values))

    def delete_association(self, namespace_id: int, resource_type: str) -> bool:
        type_id = select(metadef_resource_types.c.id).where(metadef_resource_types.c.name == resource_type)
        result = self._conn.execute(
            delete(links).where(links.c.namespace_id == namespace_id, links.c.resource_type_id.in_(type_id))
        )
        return result.rowcount == 1
