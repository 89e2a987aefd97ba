"""Settings and components for operator commands: flags override the environment.

A start-up failure an operator can fix (a setting's value, the database, the data dir, the object store, a
busy port) is ONE line on stderr naming what to check, and exit 1, for ``serve``, ``worker`` and ``admin``
alike: ``explain`` is the one place that knows these failures. ``--debug`` (or SCP_IMAGES_DEBUG=1) prints
the traceback first. Anything else is a bug and keeps its traceback."""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError

from scp_images.app import Components, ProcessMetrics, build_components
from scp_images.config import ConfigError, Settings
from scp_images.domain.errors import Unavailable
from scp_images.services.access.secrets import SecretKeyError
from scp_images.store.blob.base import BlobStoreUnavailable
from scp_images.store.sql.database import SchemaTooOld

DEBUG_VARIABLE = "SCP_IMAGES_DEBUG"
PREFIX = "SCP_IMAGES_"
_DATABASE = f"check {PREFIX}DATABASE_URL (or --database-url)"
_DATA_DIR = f"check {PREFIX}DATA_DIR (or --data-dir): a directory this user can write"
_OBJECT_STORE = f"check {PREFIX}BLOB_URL, {PREFIX}S3_ENDPOINT_URL and the S3 credentials"
_URL_FORMS = "postgresql+psycopg://USER@HOST:5432/NAME or sqlite:////ABSOLUTE/PATH"
_SHOWN = 60  # characters of a bad value shown back


class StartupError(Exception):
    """A problem whose message is already the one line to print (a busy port, for one)."""


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


def fatal(message: str) -> NoReturn:
    """``error: <message>`` on stderr, plain text (no markup, no folding), and exit 1."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise typer.Exit(1)


@contextmanager
def startup_errors(settings: Settings | None = None) -> Iterator[None]:
    """Known start-up failures become one line and exit 1; the rest propagate unchanged."""
    try:
        yield
    except typer.Exit:
        raise
    except Exception as exc:
        line = explain(exc, settings)
        if line is None:
            raise
        if debug_enabled():
            traceback.print_exc()
        fatal(line)


def explain(exc: BaseException, settings: Settings | None) -> str | None:
    """The one line for a start-up failure an operator can fix, or None (then it is a bug)."""
    if isinstance(exc, ValidationError):
        return _invalid_settings(exc)
    if isinstance(exc, (StartupError, SchemaTooOld, SecretKeyError, ConfigError)):
        return str(exc)
    if isinstance(exc, Unavailable) and isinstance(exc.__cause__, (OperationalError, InterfaceError)):
        exc = exc.__cause__
    url = settings.resolved_database_url() if settings is not None else None
    if isinstance(exc, ArgumentError) and url is not None:
        return _malformed(url)
    if isinstance(exc, ModuleNotFoundError) and settings is not None and settings.database_url:
        return (
            f"{PREFIX}DATABASE_URL needs the Python module {exc.name}, which is not installed: "
            "write postgresql+psycopg://… (psycopg comes with scp-images[server])"
        )
    if isinstance(exc, (OperationalError, InterfaceError)) and url is not None:
        return _database_problem(exc, settings, url)
    if isinstance(exc, BlobStoreUnavailable):
        return f"cannot use the blob store: {_first_line(str(exc))}; {_OBJECT_STORE}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"cannot write {exc.filename} ({exc.strerror}); {_DATA_DIR}"
    return None


def _malformed(url: str) -> str:
    return f"{PREFIX}DATABASE_URL {masked(url)!r} is not a database URL: expected {_URL_FORMS}"


def _invalid_settings(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        name = PREFIX + "_".join(str(part) for part in error["loc"][:1]).upper()
        value = str(error.get("input", ""))
        shown = repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")
        expected = error["msg"][:1].lower() + error["msg"][1:]
        problems.append(f"{name}={shown} is not valid ({expected})")
    return "; ".join(problems) + ": fix the value or unset it"


def _database_problem(exc: Exception, settings: Settings | None, url: str) -> str:
    reason = _first_line(str(getattr(exc, "orig", None) or exc)).rsplit(": ", 1)[-1].strip()
    if make_url(url).get_backend_name() != "sqlite":
        return f"cannot reach the database at {masked(url)} ({reason}); {_DATABASE} and that it is running"
    which = _DATA_DIR if settings is None or is_embedded(settings) else _DATABASE
    return f"cannot open the SQLite database {make_url(url).database} ({reason}); {which}"


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else ""


def masked(url: str) -> str:
    """A database URL fit to show: the password masked (even in a URL SQLAlchemy cannot parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"^((?:[^:/@]*://)?[^:/@]*:)[^@]*@", r"\1***@", url)


def is_embedded(settings: Settings) -> bool:
    """The embedded default: no database URL, or one naming the data dir's own SQLite file."""
    if not settings.database_url:
        return True
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return False
    return Path(url.database).resolve() == settings.embedded_database_path()


def build_settings(data_dir: Path | None = None, database_url: str | None = None, **more: Any) -> Settings:
    overrides: dict[str, Any] = {k: v for k, v in more.items() if v is not None}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    with startup_errors():
        return Settings(**overrides)


def missing_database(settings: Settings) -> Path | None:
    """The SQLite file the settings name, when it does not exist yet (None: it does, or not SQLite)."""
    try:
        url = make_url(settings.resolved_database_url())
    except (ArgumentError, ValueError) as exc:  # a port that is not a number is a ValueError
        with startup_errors(settings):
            raise StartupError(_malformed(settings.resolved_database_url())) from exc
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database)
    return None if path.exists() else path.resolve()


def shown_path(path: Path) -> str:
    """``./scp-images-data`` under the working directory, else the absolute path."""
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else f"./{relative}"


def open_components(
    settings: Settings,
    *,
    create: bool = False,
    check_blobs: bool = False,
    metrics: ProcessMetrics | None = None,
) -> Components:
    """``build_components``, with its known failures as one line. Unless ``create``, a SQLite database
    that does not exist is not made: the command says where it looked and how to point elsewhere. With
    ``check_blobs`` the blob store must answer first (serve and worker need it at once); ``metrics`` are
    the figures of a server or worker."""
    missing = missing_database(settings)
    if missing is not None and not create:
        fatal(
            f"no database at {shown_path(missing)}: point at yours with --data-dir or "
            f"{PREFIX}DATABASE_URL, or start one with `scp-images serve`"
        )
    with startup_errors(settings):
        return build_components(settings, check_blobs=check_blobs, metrics=metrics)
