"""Unique-key races at the store boundary: a lost insert race becomes a domain Conflict, never an
IntegrityError reaching the edge as a 500.

A check-then-insert (``SELECT`` says the row is absent, then ``INSERT``) is not enough: two transactions
can both pass the check. The database's key is the arbiter; these helpers translate its verdict."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from scp_images.domain.errors import DomainError


@contextmanager
def integrity_as(error: DomainError) -> Iterator[None]:
    """Raise ``error`` (chained) when a statement inside violates a constraint. The transaction is then
    unusable on PostgreSQL, which is fine: the error ends the use case and the transaction rolls back."""
    try:
        yield
    except IntegrityError as exc:
        raise error from exc


def insert_unless_present(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """``INSERT … ON CONFLICT (primary key) DO NOTHING``: False when a row with that key exists (or a
    concurrent transaction inserted it first), without aborting the transaction. Other constraint
    violations (a foreign key) still raise IntegrityError."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    keys = list(table.primary_key.columns)
    # RETURNING tells whether a row went in (an INSERT's rowcount is not reliable across drivers).
    statement = statement.on_conflict_do_nothing(index_elements=[c.name for c in keys]).returning(*keys)
    return conn.execute(statement).first() is not None
