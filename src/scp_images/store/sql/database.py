"""Engine creation, migrations and the transaction boundary services use."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Dialect, Engine, Select, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from scp_images.domain.errors import Unavailable

_MIGRATIONS = Path(__file__).parent / "migrations"
_SQLITE_BEGIN = "scp_images_sqlite_begin"
_log = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite opens a transaction lazily, before the first INSERT/UPDATE only, so a SELECT that decides
    # a write would run outside it. Turn that off and emit BEGIN ourselves (SQLAlchemy's documented recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """BEGIN IMMEDIATE takes the write lock at the transaction's first statement, so a check-then-write
    is atomic as it is on PostgreSQL; read-only transactions use a deferred BEGIN (a WAL snapshot that
    never waits for writers)."""
    mode = connection.get_execution_options().get(_SQLITE_BEGIN, "IMMEDIATE")
    if mode is not None:  # None: a single statement, which is its own transaction
        connection.exec_driver_sql(f"BEGIN {mode}")


def create_db_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            pool_size=8,
            max_overflow=16,
            # JSON columns (tags, properties) come back as text: orjson reads them in a fifth of the
            # stdlib's time, a quarter of a list of 1,000's. (PostgreSQL's driver decodes jsonb itself.)
            json_deserializer=orjson.loads,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        pool_timeout=5,
        connect_args={"connect_timeout": 3},
        # psycopg decodes json columns with the stdlib's json.loads by default: a third of a list of
        # 1,000's time in the driver. Every JSON document we store was read by orjson first (request
        # bodies) and SQLite's columns are read by it already, so the values are the same.
        json_deserializer=orjson.loads,
    )


# Start-up work (migrations, the first account) takes this lock. Any fixed number works, as long as every
# process of every version of scp-images uses the same one.
STARTUP_LOCK_KEY = 0x5C9_1A6E5


class SchemaTooOld(RuntimeError):
    """The database's schema is older than this code's and migrating did not bring it up to date."""


def migrate(engine: Engine) -> None:
    """Bring the schema to this code's newest revision (creates it on an empty database).

    Processes starting together take turns (a PostgreSQL advisory lock, SQLite's write lock), so the
    schema is migrated once. A database already on a revision this code does not know was migrated by a
    newer release (a rolling upgrade) and is left as it is; anything else older than the code's head
    refuses to start with ``SchemaTooOld``."""
    config = _alembic_config()
    heads, known = code_revisions()
    with engine.begin() as connection:
        lock_for_writing(connection)
        found = _database_revisions(connection)
        if all(revision in known for revision in found):
            before = found
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            found = _database_revisions(connection)
            if found != before:  # one line for the whole upgrade (alembic's own lines are DEBUG chatter)
                _log.info("database: migrated from %s to %s", ", ".join(before) or "empty", ", ".join(found))
        else:
            _log.warning("the database schema (%s) is newer than this code's (%s)", found, heads)
        problem = schema_problem(found, heads, known)
        if problem:
            raise SchemaTooOld(problem)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


@functools.cache
def code_revisions() -> tuple[tuple[str, ...], frozenset[str]]:
    """This code's head revision(s) and every revision it knows (read from the migration files once)."""
    script = ScriptDirectory.from_config(_alembic_config())
    return tuple(script.get_heads()), frozenset(revision.revision for revision in script.walk_revisions())


def schema_problem_now(connection: Connection) -> str | None:
    """``schema_problem`` for the database as it is now: one small query (alembic's version table)."""
    heads, known = code_revisions()
    return schema_problem(_database_revisions(connection), heads, known)


def lock_for_writing(connection: Connection) -> None:
    """Serialise this transaction with every other process doing the same, until it ends.

    PostgreSQL: a transaction-level advisory lock (released by commit, rollback or a dropped connection).
    SQLite: the database file's write lock, taken before anything is read (``BEGIN IMMEDIATE``). Call it
    first thing in a transaction."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({STARTUP_LOCK_KEY})")
        return
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        assert raw is not None
        if getattr(raw, "in_transaction", False):  # a BEGIN the engine emitted: nothing has run in it yet
            raw.rollback()
        raw.cursor().execute("BEGIN IMMEDIATE")


def _database_revisions(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


def schema_problem(
    current: tuple[str, ...], heads: tuple[str, ...], known: set[str] | frozenset[str]
) -> str | None:
    """Why this code must not serve on a database at ``current``, or None when it may."""
    if any(revision not in known for revision in current):
        return None  # a newer release migrated it: newer schemas stay readable by older code
    if set(current) == set(heads):
        return None
    found = ", ".join(current) or "none"
    return (
        f"the database schema is at revision {found}, older than the {', '.join(heads)} this version of "
        "scp-images needs, and migrating did not bring it up to date: not starting on it"
    )


class Database:
    """The transaction boundary: services open one per use case."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._prepared: dict[int, _PreparedSelect] = {}  # by id() of a module-level (immortal) statement
        self._postgres = engine.dialect.name == "postgresql"
        self._own = _ThreadConnections(engine)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction that may write: on SQLite it holds the write lock from its first statement."""
        with self._begin("IMMEDIATE") as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: one consistent snapshot, never waiting for a writer."""
        with self._begin("DEFERRED") as connection:
            yield connection

    @contextmanager
    def read_one(self) -> Iterator[Connection]:
        """For exactly one SELECT, which sees one snapshot by itself: no BEGIN and COMMIT around it
        (SQLite: two calls fewer; PostgreSQL: autocommit, two round trips fewer). Several statements
        that must agree with each other use ``read``."""
        with self._begin(None, autocommit=True) as connection:
            yield connection

    @contextmanager
    def _begin(self, sqlite_mode: str | None, *, autocommit: bool = False) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                connection.execution_options(**{_SQLITE_BEGIN: sqlite_mode})
                if autocommit and self.is_postgres:
                    connection.execution_options(isolation_level="AUTOCOMMIT")
                with connection.begin():
                    yield connection
        except (OperationalError, DBAPIError) as exc:
            if _is_connection_problem(exc):
                raise Unavailable(reason="the database cannot be reached") from exc
            raise

    def first_row(self, statement: Select[Any], params: dict[str, Any]) -> Sequence[Any] | None:
        """The first row of a SELECT that sees one snapshot by itself (as ``read_one``), its values
        converted as SQLAlchemy converts them. On SQLite it runs on the calling thread's own connection
        (see ``_ThreadConnections``), compiled once: SQLAlchemy's Connection, transaction, result and pool
        objects cost several times the query itself on the hot show path. PostgreSQL's goes through
        SQLAlchemy (autocommit)."""
        if self.is_postgres:
            with self.read_one() as connection:
                return connection.execute(statement, params).first()
        prepared = self._prepared.get(id(statement))
        if prepared is None:
            prepared = self._prepared[id(statement)] = _PreparedSelect(statement, self.engine.dialect)
        try:
            cursor = self._own.connection().cursor()
            try:
                cursor.execute(prepared.sql, prepared.arguments(params))
                row = cursor.fetchone()
            finally:
                cursor.close()  # ends the statement, and with it the read snapshot
        except sqlite3.Error as exc:
            self._own.drop()  # the next call opens a fresh one
            if isinstance(exc, sqlite3.OperationalError):
                raise Unavailable(reason="the database cannot be reached") from exc
            raise
        return prepared.convert(row) if row is not None else None

    @property
    def is_postgres(self) -> bool:
        return self._postgres

    def dispose(self) -> None:
        self._own.close_all()
        self.engine.dispose()


def _is_connection_problem(exc: DBAPIError) -> bool:
    return bool(exc.connection_invalidated) or isinstance(exc, OperationalError)


class _PreparedSelect:
    """A SELECT compiled for one (positional) dialect, with each column's result conversion."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert compiled.positiontup is not None, "a positional paramstyle (SQLite's qmark)"
        self.sql = compiled.string
        self._names = tuple(compiled.positiontup)
        self._statement = statement  # keeps the id() it is cached under alive
        processors = (
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        )
        # Only the columns that have a conversion (times, JSON): the rest come from sqlite3 as they are.
        self._converting = tuple((i, p) for i, p in enumerate(processors) if p is not None)

    def arguments(self, params: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(params[name] for name in self._names)

    def convert(self, row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for index, convert in self._converting:
            values[index] = convert(values[index])
        return values


class _ThreadConnections:
    """A SQLite connection per thread for single-statement reads (``Database.first_row``): the show runs
    on the event loop's thread (``Services.inline_io``), so it is one connection, kept open, with a warm
    page cache and SQLite's own cache of prepared statements. Each is taken from the engine's pool once
    and detached from it (so it has the pool's PRAGMAs and does not count against the pool); it holds no
    transaction between statements (autocommit, and every statement is reset after its row), so writers
    in this and other processes are never held up by it. A process forked after one was opened opens its
    own (a SQLite connection must not cross a fork), and so does every thread after ``Database.dispose``,
    as the pool would."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[Any] = []  # the pool's wrappers, to close them all in dispose()
        self._generation = 0  # raised by close_all: every thread opens a new one after a dispose()

    def connection(self) -> sqlite3.Connection:
        local = self._local
        mine = getattr(local, "connection", None)
        if mine is not None and local.opened == (_pid(), self._generation):
            return mine  # type: ignore[no-any-return]
        wrapper = self._engine.raw_connection()
        connection: sqlite3.Connection = wrapper.dbapi_connection  # type: ignore[assignment]
        wrapper.detach()
        with self._lock:
            self._opened.append(wrapper)
        local.wrapper, local.connection, local.opened = wrapper, connection, (_pid(), self._generation)
        return connection

    def drop(self) -> None:
        """Close this thread's connection (after an error: it may be broken)."""
        wrapper = getattr(self._local, "wrapper", None)
        self._local.connection = self._local.wrapper = None
        if wrapper is not None:
            with self._lock:
                if wrapper in self._opened:
                    self._opened.remove(wrapper)
            with contextlib.suppress(Exception):
                wrapper.close()

    def close_all(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
            self._generation += 1
        for wrapper in opened:
            with contextlib.suppress(Exception):
                wrapper.close()


_process_id = os.getpid()


def _pid() -> int:
    return _process_id


def _after_fork() -> None:
    global _process_id
    _process_id = os.getpid()


os.register_at_fork(after_in_child=_after_fork)
