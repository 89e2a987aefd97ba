"""Metadata definitions: Glance's metadefs use cases over ``MetadefRecords`` (the store interface; the
SQL one is ``store/sql/metadefs.py``). Anyone reads what ``may_read`` allows; admins change things.
Each change is one transaction with its audit record; a namespace's definitions go with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import MetadefLimitReached, MetadefNotFound, MetadefProtected
from scp_images.domain.metadefs import (
    LIMITS,
    Association,
    MetadefObject,
    Namespace,
    NamespaceDetail,
    NamespaceSpec,
    PropertyDefinition,
    ResourceType,
    Tag,
    Visibility,
    may_read,
    require_admin,
)
from scp_images.domain.principal import Principal
from scp_images.services import audit
from scp_images.services.audit import AuditContext, for_principal
from scp_images.services.clock import Clock, system_clock
from scp_images.store.sql.database import Database
from scp_images.store.sql.metadefs import SqlMetadefRecords


class MetadefRecords(Protocol):
    """The store's side, inside one transaction the service opened."""

    def namespace_id(self, name: str) -> tuple[int, Namespace] | None: ...
    def count_namespaces(self) -> int: ...
    def list_namespaces(
        self, visible_to: str | None, visibility: Visibility | None, resource_types: tuple[str, ...]
    ) -> list[tuple[int, Namespace]]: ...
    def insert_namespace(self, namespace: Namespace) -> int: ...
    def replace_namespace(self, namespace_id: int, namespace: Namespace) -> None: ...
    def delete_namespace(self, namespace_id: int) -> None: ...
    def count(self, kind: str, namespace_id: int) -> int: ...
    def remove(self, kind: str, namespace_id: int, name: str | None = None) -> int: ...
    def objects(self, namespace_id: int) -> list[MetadefObject]: ...
    def get_object(self, namespace_id: int, name: str) -> MetadefObject | None: ...
    def insert_object(self, namespace_id: int, obj: MetadefObject, at: datetime) -> None: ...
    def replace_object(self, namespace_id: int, name: str, obj: MetadefObject, at: datetime) -> bool: ...
    def properties(self, namespace_id: int) -> list[PropertyDefinition]: ...
    def get_property(self, namespace_id: int, name: str) -> PropertyDefinition | None: ...
    def insert_property(self, namespace_id: int, prop: PropertyDefinition, at: datetime) -> None: ...
    def replace_property(
        self, namespace_id: int, name: str, prop: PropertyDefinition, at: datetime
    ) -> bool: ...
    def tags(self, namespace_id: int) -> list[Tag]: ...
    def get_tag(self, namespace_id: int, name: str) -> Tag | None: ...
    def insert_tag(self, namespace_id: int, name: str, at: datetime) -> None: ...
    def rename_tag(self, namespace_id: int, name: str, new_name: str, at: datetime) -> bool: ...
    def resource_types(self) -> list[ResourceType]: ...
    def resource_type_id(self, name: str, at: datetime, limit: int) -> int | None: ...
    def associations(self, namespace_id: int) -> list[Association]: ...
    def count_associations(self, namespace_id: int) -> int: ...
    def insert_association(
        self, namespace_id: int, type_id: int, association: Association, at: datetime
    ) -> None: ...
    def delete_association(self, namespace_id: int, resource_type: str) -> bool: ...


_SINGULAR = {"objects": "object", "properties": "property", "tags": "tag"}


class MetadefService:
    def __init__(
        self,
        db: Database,
        clock: Clock = system_clock,
        records: Callable[[Connection], MetadefRecords] = SqlMetadefRecords,
    ) -> None:
        self._db = db
        self._clock = clock
        self._records = records

    # --- shared steps ---

    def _visible(self, store: MetadefRecords, principal: Principal, name: str) -> tuple[int, Namespace]:
        found = store.namespace_id(name)
        if found is None or not may_read(found[1], principal):
            raise MetadefNotFound(kind="namespace", name=name[:80])
        return found

    def _writable(self, store: MetadefRecords, principal: Principal, name: str) -> tuple[int, Namespace]:
        """404 for a namespace the caller cannot see, then 403 for a caller who is not an admin."""
        found = self._visible(store, principal, name)
        require_admin(principal)
        return found

    @staticmethod
    def _room(kind: str, count: int, adding: int, where: str) -> None:
        limit = LIMITS[kind]
        if count + adding > limit:
            raise MetadefLimitReached(kind=kind, limit=limit, where=where)

    def _record(
        self,
        conn: Connection,
        principal: Principal,
        context: AuditContext | None,
        action: AuditAction,
        *parts: str,
    ) -> None:
        detail = "/".join(parts)
        who = context or for_principal(principal)
        audit.record_change(conn, who, self._clock(), action, detail=detail)

    # --- namespaces ---

    def list_namespaces(
        self,
        principal: Principal,
        *,
        visibility: Visibility | None = None,
        resource_types: tuple[str, ...] = (),
        marker: str | None = None,
        limit: int | None = None,
        sort_key: str = "created_at",
        descending: bool = True,
    ) -> list[NamespaceDetail]:
        """Newest first by default; a page starts after ``marker`` (a namespace the caller can see).
        There are at most ``MAX_NAMESPACES``, so the order is made here."""
        visible_to = None if principal.is_admin else principal.account_id
        with self._db.read() as conn:
            store = self._records(conn)
            found = store.list_namespaces(visible_to, visibility, resource_types)
            found.sort(key=lambda pair: (getattr(pair[1], sort_key), pair[1].namespace), reverse=descending)
            names = [n.namespace for _, n in found]
            start = 0
            if marker is not None:
                if marker not in names:
                    raise MetadefNotFound(kind="namespace", name=marker[:80])
                start = names.index(marker) + 1
            page = found[start : None if limit is None else start + limit]
            return [NamespaceDetail(n, tuple(store.associations(i))) for i, n in page]

    def create_namespace(
        self, principal: Principal, spec: NamespaceSpec, context: AuditContext | None = None
    ) -> NamespaceDetail:
        require_admin(principal)
        at = self._clock()
        namespace = Namespace(
            spec.namespace,
            spec.display_name,
            spec.description,
            spec.visibility,
            spec.protected,
            spec.owner or principal.account_id,
            at,
            at,
        )
        with self._db.transaction() as conn:
            store = self._records(conn)
            self._room("namespaces", store.count_namespaces(), 1, "in this service")
            namespace_id = store.insert_namespace(namespace)
            for association in spec.associations:
                self._associate(store, namespace_id, association, at)
            for prop in spec.properties:
                store.insert_property(namespace_id, prop, at)
            for obj in spec.objects:
                store.insert_object(namespace_id, obj, at)
            for tag in spec.tags:
                store.insert_tag(namespace_id, tag, at)
            self._record(conn, principal, context, AuditAction.METADEF_CREATE, namespace.namespace)
            return self._detail(store, namespace_id, namespace)

    @staticmethod
    def _detail(store: MetadefRecords, namespace_id: int, namespace: Namespace) -> NamespaceDetail:
        return NamespaceDetail(
            namespace,
            tuple(store.associations(namespace_id)),
            tuple(store.properties(namespace_id)),
            tuple(store.objects(namespace_id)),
            tuple(store.tags(namespace_id)),
        )

    def show_namespace(self, principal: Principal, name: str) -> NamespaceDetail:
        with self._db.read() as conn:
            store = self._records(conn)
            namespace_id, namespace = self._visible(store, principal, name)
            return self._detail(store, namespace_id, namespace)

    def replace_namespace(
        self, principal: Principal, name: str, spec: NamespaceSpec, context: AuditContext | None = None
    ) -> Namespace:
        """PUT: the namespace's own attributes as sent (absent ones back to their defaults, as Glance);
        the definitions it holds stay."""
        with self._db.transaction() as conn:
            store = self._records(conn)
            namespace_id, old = self._writable(store, principal, name)
            new = Namespace(
                spec.namespace,
                spec.display_name,
                spec.description,
                spec.visibility,
                spec.protected,
                spec.owner or principal.account_id,
                old.created_at,
                self._clock(),
            )
            store.replace_namespace(namespace_id, new)
            self._record(conn, principal, context, AuditAction.METADEF_UPDATE, name)
        return new

    def delete_namespace(self, principal: Principal, name: str, context: AuditContext | None = None) -> None:
        with self._db.transaction() as conn:
            store = self._records(conn)
            namespace_id, namespace = self._writable(store, principal, name)
            if namespace.protected:
                raise MetadefProtected(namespace=name)
            store.delete_namespace(namespace_id)
            self._record(conn, principal, context, AuditAction.METADEF_DELETE, name)

    def delete_all(
        self, principal: Principal, name: str, kind: str, context: AuditContext | None = None
    ) -> None:
        """Every object, property or tag (``kind``) of the namespace."""
        with self._db.transaction() as conn:
            store = self._records(conn)
            namespace_id, namespace = self._writable(store, principal, name)
            if namespace.protected:
                raise MetadefProtected(namespace=name)
            store.remove(kind, namespace_id)
            self._record(conn, principal, context, AuditAction.METADEF_DELETE, name, kind)

    # --- objects, properties and tags ---

    def list_objects(self, principal: Principal, name: str) -> list[MetadefObject]:
        with self._db.read() as conn:
            store = self._records(conn)
            return store.objects(self._visible(store, principal, name)[0])

    def list_properties(self, principal: Principal, name: str) -> list[PropertyDefinition]:
        with self._db.read() as conn:
            store = self._records(conn)
            return store.properties(self._visible(store, principal, name)[0])

    def list_tags(self, principal: Principal, name: str) -> list[Tag]:
        with self._db.read() as conn:
            store = self._records(conn)
            return store.tags(self._visible(store, principal, name)[0])

    def show_object(self, principal: Principal, name: str, object_name: str) -> MetadefObject:
        with self._db.read() as conn:
            store = self._records(conn)
            found = store.get_object(self._visible(store, principal, name)[0], object_name)
        return _found(found, "object", object_name)

    def show_property(self, principal: Principal, name: str, property_name: str) -> PropertyDefinition:
        with self._db.read() as conn:
            store = self._records(conn)
            found = store.get_property(self._visible(store, principal, name)[0], property_name)
        return _found(found, "property", property_name)

    def show_tag(self, principal: Principal, name: str, tag: str) -> Tag:
        with self._db.read() as conn:
            store = self._records(conn)
            found = store.get_tag(self._visible(store, principal, name)[0], tag)
        return _found(found, "tag", tag)

    def create_object(
        self, principal: Principal, name: str, obj: MetadefObject, context: AuditContext | None = None
    ) -> MetadefObject:
        with self._db.transaction() as conn:
            store = self._records(conn)
            namespace_id, _ = self._writable(store, principal, name)
            self._room("objects", store.count("objects", namespace_id), 1, f"in namespace {name!r}")
            store.insert_object(namespace_id, obj, self._clock())
            self._record(conn, principal, context, AuditAction.METADEF_CREATE, name, "objects", obj.name)
            return _found(store.get_object(namespace_id, obj.name), "object", obj.name)

    def replace_object(
        self,
        principal: Principal,
        name: str,
        object_name: str,
        obj: MetadefObject,
        context: AuditContext | None = None,
    ) -> MetadefObject:
        with self._db.transaction() as conn:
            store = self._records(conn)
            namespace_id, _ = self._writable(store, principal, name)
            if not store.replace_object(namespace_id, object_name, obj, self._clock()):
                raise MetadefNotFound(kind="object", name=object_name[:80])
            self._record(conn, principal, context, AuditAction.METADEF_UPDATE, name, "objects", object_name)
            return _found(store.get_object(namespace_id, obj.name), "object", obj.name)

    def create_property(
        self, principal: Principal, name: str, prop: PropertyDefinition, context: AuditContext | None = None
    ) -> PropertyDefinition:
        with self._db.transaction() as conn:
            store = self._records(conn)
            namespace_id, _ = self._writable(store, principal, name)
            count = store.count("properties", namespace_id)
            self._room("properties", count, 1, f"in namespace {name!r}")
            store.insert_property(namespace_id, prop, self._clock())
            self._record(conn, principal, context, AuditAction.METADEF_CREATE, name, "properties", prop.name)
            return _found(store.get_property(namespace_id, prop.name), "property", prop.name)

    def replace_property(
        self,
        principal: Principal,
        name: str,
        property_name: str,
        prop: PropertyDefinition,
        context: AuditContext | None = None,
    ) -> PropertyDefinition:
        with self._db.transaction() as conn:
            store = self._records(conn)
            namespace_id, _ = self._writable(store, principal, name)
            if not store.replace_property(namespace_id, property_name, prop, self._clock()):
                raise MetadefNotFound(kind="property", name=property_name[:80])
            self._record(
                conn, principal, context, AuditAction.METADEF_UPDATE, name, "properties", property_name
            )
            return _found(store.get_property(namespace_id, prop.name), "property", prop.name)

    def create_tag(
        self, principal: Principal, name: str, tag: str, context: AuditContext | None = None
    ) -> Tag:
        with self._db.transaction() as conn:
            store = self._records(conn)
            namespace_id, _ = self._writable(store, principal, name)
            self._room("tags", store.count("tags", namespace_id), 1, f"in namespace {name!r}")
            store.insert_tag(namespace_id, tag, self._clock())
            self._record(conn, principal, context, AuditAction.METADEF_CREATE, name, "tags", tag)
            return _found(store.get_tag(namespace_id, tag), "tag", tag)

    def create_tags(
        self,
        principal: Principal,
        name: str,
        tags: tuple[str, ...],
        *,
        append: bool,
        context: AuditContext | None = None,
    ) -> list[Tag]:
        """Several tags at once: they replace the namespace's tags, or (``append``) join them; one
        that exists already is a conflict either way when appending."""
        with self._db.transaction() as conn:
            store = self._records(conn)
            namespace_id, _ = self._writable(store, principal, name)
            if not append:
                store.remove("tags", namespace_id)
            self._room("tags", store.count("tags", namespace_id), len(tags), f"in namespace {name!r}")
            at = self._clock()
            for tag in tags:
                store.insert_tag(namespace_id, tag, at)
            self._record(conn, principal, context, AuditAction.METADEF_CREATE, name, "tags")
            created = set(tags)
            return [t for t in store.tags(namespace_id) if t.name in created]

    def rename_tag(
        self, principal: Principal, name: str, tag: str, new_name: str, context: AuditContext | None = None
    ) -> Tag:
        with self._db.transaction() as conn:
            store = self._records(conn)
            namespace_id, _ = self._writable(store, principal, name)
            if not store.rename_tag(namespace_id, tag, new_name, self._clock()):
                raise MetadefNotFound(kind="tag", name=tag[:80])
            self._record(conn, principal, context, AuditAction.METADEF_UPDATE, name, "tags", tag)
            return _found(store.get_tag(namespace_id, new_name), "tag", new_name)

    def delete_one(
        self, principal: Principal, name: str, kind: str, item: str, context: AuditContext | None = None
    ) -> None:
        """One object, property or tag (``kind``); none of a protected namespace's."""
        with self._db.transaction() as conn:
            store = self._records(conn)
            namespace_id, namespace = self._writable(store, principal, name)
            if namespace.protected:
                raise MetadefProtected(namespace=name)
            if store.remove(kind, namespace_id, item) != 1:
                raise MetadefNotFound(kind=_SINGULAR[kind], name=item[:80])
            self._record(conn, principal, context, AuditAction.METADEF_DELETE, name, kind, item)

    # --- resource types ---

    def list_resource_types(self, principal: Principal) -> list[ResourceType]:
        with self._db.read() as conn:
            return self._records(conn).resource_types()

    def list_associations(self, principal: Principal, name: str) -> list[Association]:
        with self._db.read() as conn:
            store = self._records(conn)
            return store.associations(self._visible(store, principal, name)[0])

    def _associate(
        self, store: MetadefRecords, namespace_id: int, association: Association, at: datetime
    ) -> Association:
        self._room("resource_type_associations", store.count_associations(namespace_id), 1, "per namespace")
        type_id = store.resource_type_id(association.name, at, LIMITS["resource_types"])
        if type_id is None:
            raise MetadefLimitReached(kind="resource_types", limit=LIMITS["resource_types"], where="in all")
        store.insert_association(namespace_id, type_id, association, at)
        return replace(association, created_at=at, updated_at=at)

    def associate(
        self, principal: Principal, name: str, association: Association, context: AuditContext | None = None
    ) -> Association:
        with self._db.transaction() as conn:
            store = self._records(conn)
            namespace_id, _ = self._writable(store, principal, name)
            created = self._associate(store, namespace_id, association, self._clock())
            self._record(
                conn, principal, context, AuditAction.METADEF_CREATE, name, "resource_types", association.name
            )
        return created

    def dissociate(
        self, principal: Principal, name: str, resource_type: str, context: AuditContext | None = None
    ) -> None:
        with self._db.transaction() as conn:
            store = self._records(conn)
            namespace_id, namespace = self._writable(store, principal, name)
            if namespace.protected:
                raise MetadefProtected(namespace=name)
            if not store.delete_association(namespace_id, resource_type):
                raise MetadefNotFound(kind="resource type association", name=resource_type[:80])
            self._record(
                conn, principal, context, AuditAction.METADEF_DELETE, name, "resource_types", resource_type
            )


def _found(value: Any, kind: str, name: str) -> Any:
    if value is None:
        raise MetadefNotFound(kind=kind, name=name[:80])
    return value
