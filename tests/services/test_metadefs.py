"""MetadefService over the SQL store, on SQLite and PostgreSQL: who may read and change what, the
bounds, protection, the cascade, and lost races answered as conflicts. The parsing rules directly, with
hypothesis over hostile documents."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from scp_images.domain import metadefs as rules
from scp_images.domain.errors import (
    Forbidden,
    InvalidRequest,
    MetadefAdminOnly,
    MetadefExists,
    MetadefLimitReached,
    MetadefNotFound,
    MetadefProtected,
)
from scp_images.domain.metadefs import (
    Association,
    MetadefObject,
    NamespaceSpec,
    PropertyDefinition,
    Visibility,
    parse_namespace,
    parse_property,
)
from scp_images.domain.principal import Principal, Role
from scp_images.services.metadefs import MetadefService
from scp_images.store.sql import tables
from scp_images.store.sql.database import Database, create_db_engine, migrate

ADMIN = Principal("ops", "operators", "root", "AK-ADMIN", role=Role.ADMIN)
ALPHA = Principal("alpha", "alpha", "a", "AK-ALPHA")
BETA = Principal("beta", "beta", "b", "AK-BETA")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    engine = create_db_engine(database_url)
    migrate(engine)
    database = Database(engine)
    yield database
    database.dispose()


@pytest.fixture
def metadefs(db: Database) -> MetadefService:
    return MetadefService(db)


def _count(db: Database, table: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_admins_create_and_owners_read_their_private_namespaces(metadefs: MetadefService) -> None:
    with pytest.raises(MetadefAdminOnly):
        metadefs.create_namespace(ALPHA, NamespaceSpec("mine"))
    metadefs.create_namespace(ADMIN, NamespaceSpec("alpha-private", owner="alpha"))
    metadefs.create_namespace(ADMIN, NamespaceSpec("public", visibility=Visibility.PUBLIC))
    metadefs.create_namespace(ADMIN, NamespaceSpec("admins-own"))
    assert metadefs.show_namespace(ALPHA, "alpha-private").namespace.owner == "alpha"
    with pytest.raises(MetadefNotFound):
        metadefs.show_namespace(BETA, "alpha-private")
    names = lambda who: {d.namespace.namespace for d in metadefs.list_namespaces(who)}  # noqa: E731
    assert names(BETA) == {"public"}
    assert names(ALPHA) == {"public", "alpha-private"}
    assert names(ADMIN) == {"public", "alpha-private", "admins-own"}
    # The owner reads, but changing is an admin's (403); another account does not see it (404).
    with pytest.raises(MetadefAdminOnly):
        metadefs.create_tag(ALPHA, "alpha-private", "t")
    with pytest.raises(MetadefNotFound):
        metadefs.create_tag(BETA, "alpha-private", "t")


def test_a_namespace_and_everything_in_it(db: Database, metadefs: MetadefService) -> None:
    spec = NamespaceSpec(
        "full",
        protected=True,
        associations=(Association("OS::Glance::Image", prefix="hw_"),),
        properties=(PropertyDefinition("p", {"title": "P", "type": "string"}),),
        objects=(MetadefObject("o", properties={"q": {"title": "Q", "type": "integer"}}),),
        tags=("t1", "t2"),
    )
    detail = metadefs.create_namespace(ADMIN, spec)
    assert [a.name for a in detail.associations] == ["OS::Glance::Image"]
    assert [t.name for t in detail.tags] == ["t1", "t2"]
    for attempt in (
        lambda: metadefs.delete_namespace(ADMIN, "full"),
        lambda: metadefs.delete_all(ADMIN, "full", "objects"),
        lambda: metadefs.delete_one(ADMIN, "full", "tags", "t1"),
        lambda: metadefs.dissociate(ADMIN, "full", "OS::Glance::Image"),
    ):
        with pytest.raises(MetadefProtected):
            attempt()
    metadefs.replace_namespace(ADMIN, "full", NamespaceSpec("full", protected=False))
    metadefs.delete_namespace(ADMIN, "full")
    for table in (
        tables.metadef_namespaces,
        tables.metadef_objects,
        tables.metadef_properties,
        tables.metadef_tags,
        tables.metadef_namespace_resource_types,
    ):
        assert _count(db, table) == 0, table.name
    assert _count(db, tables.metadef_resource_types) == 1  # resource types stay


def test_duplicates_are_conflicts_never_integrity_errors(db: Database, metadefs: MetadefService) -> None:
    metadefs.create_namespace(ADMIN, NamespaceSpec("dup"))
    with pytest.raises(MetadefExists):
        metadefs.create_namespace(ADMIN, NamespaceSpec("dup"))
    metadefs.create_object(ADMIN, "dup", MetadefObject("o"))
    with pytest.raises(MetadefExists):
        metadefs.create_object(ADMIN, "dup", MetadefObject("o"))
    metadefs.create_namespace(ADMIN, NamespaceSpec("other"))
    with pytest.raises(MetadefExists):
        metadefs.replace_namespace(ADMIN, "other", NamespaceSpec("dup"))
    with pytest.raises(MetadefExists):
        metadefs.create_tags(ADMIN, "dup", ("a",), append=True)
        metadefs.create_tags(ADMIN, "dup", ("a",), append=True)
    assert [t.name for t in metadefs.list_tags(ADMIN, "dup")] == ["a"]  # the failed call left nothing


def test_counts_are_bounded(monkeypatch: pytest.MonkeyPatch, metadefs: MetadefService) -> None:
    monkeypatch.setitem(rules.LIMITS, "tags", 3)
    monkeypatch.setitem(rules.LIMITS, "namespaces", 2)
    monkeypatch.setitem(rules.LIMITS, "resource_types", 2)
    metadefs.create_namespace(ADMIN, NamespaceSpec("one", tags=("a", "b")))
    metadefs.create_tag(ADMIN, "one", "c")
    with pytest.raises(MetadefLimitReached):
        metadefs.create_tag(ADMIN, "one", "d")
    with pytest.raises(MetadefLimitReached):
        metadefs.create_tags(ADMIN, "one", ("d",), append=True)
    assert len(metadefs.create_tags(ADMIN, "one", ("x", "y", "z"), append=False)) == 3
    metadefs.create_namespace(ADMIN, NamespaceSpec("two"))
    with pytest.raises(MetadefLimitReached):
        metadefs.create_namespace(ADMIN, NamespaceSpec("three"))
    metadefs.associate(ADMIN, "one", Association("OS::New::One"))
    with pytest.raises(MetadefLimitReached):
        metadefs.associate(ADMIN, "one", Association("OS::New::Two"))


def test_renames_and_replacements(metadefs: MetadefService) -> None:
    metadefs.create_namespace(ADMIN, NamespaceSpec("ns", tags=("old",)))
    assert metadefs.rename_tag(ADMIN, "ns", "old", "new").name == "new"
    with pytest.raises(MetadefNotFound):
        metadefs.show_tag(ADMIN, "ns", "old")
    metadefs.create_property(ADMIN, "ns", PropertyDefinition("p", {"title": "P", "type": "string"}))
    with pytest.raises(MetadefExists, match="property 'p'"):
        metadefs.create_property(ADMIN, "ns", PropertyDefinition("p", {"title": "P", "type": "string"}))
    replaced = metadefs.replace_property(
        ADMIN, "ns", "p", PropertyDefinition("p2", {"title": "Q", "type": "integer"})
    )
    assert (replaced.name, replaced.schema["type"]) == ("p2", "integer")
    with pytest.raises(MetadefNotFound):
        metadefs.replace_property(
            ADMIN, "ns", "p", PropertyDefinition("p3", {"title": "R", "type": "string"})
        )


# --- the parsing rules ---


def test_a_property_definition_is_closed_and_bounded() -> None:
    good = parse_property({"name": "cpu", "title": "CPU", "type": "integer", "minimum": 1, "enum": [1, 2]})
    assert good.name == "cpu"
    assert good.schema == {"title": "CPU", "type": "integer", "minimum": 1, "enum": [1, 2]}
    for bad in (
        {"title": "t", "type": "string"},  # no name
        {"name": "n", "type": "string"},  # no title
        {"name": "n", "title": "t", "type": "string", "confidential": True},
        {"name": "n", "title": "t" * 1001, "type": "string"},
        {"name": "n", "title": "t", "type": "string", "minLength": -1},
        {"name": "n", "title": "t", "type": "string", "minimum": float("inf")},
        {"name": "n", "title": "t", "type": "array", "items": {"type": "string", "items": {}}},
        {"name": "n", "title": "t", "type": "string", "required": ["a", "a"]},
    ):
        with pytest.raises(InvalidRequest):
            parse_property(bad)
    with pytest.raises(Forbidden):
        parse_namespace({"namespace": "n", "updated_at": "x"})


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)
_keys = st.sampled_from(
    [
        "namespace",
        "display_name",
        "description",
        "visibility",
        "protected",
        "owner",
        "properties",
        "objects",
        "tags",
        "resource_type_associations",
        "title",
        "type",
        "name",
        "enum",
        "items",
        "default",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _json, max_size=6))
def test_any_document_is_parsed_or_refused_with_a_domain_error(document: dict[str, Any]) -> None:
    for parse in (parse_namespace, parse_property):
        with contextlib.suppress(InvalidRequest, Forbidden):
            parse(document)
