"""Printing helpers shared by the CLI commands: JSON, tables and errors with stable exit codes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scp_images.cli._errors import EXIT_API_ERROR, EXIT_USAGE, explain
from scp_images.cli._messages import t
from scp_images.client import CredentialsError, ScpImagesError


def _console(stderr: bool = False) -> Console:
    """Piped output gets a wide, fixed width: ids and timestamps must not be folded for scripts."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or "COLUMNS" in os.environ else 200
    return Console(stderr=stderr, width=width)


console = _console()
err_console = _console(stderr=True)

__all__ = ["EXIT_API_ERROR", "EXIT_USAGE"]


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    raise TypeError(f"cannot encode {type(value).__name__}")


def print_json(data: Any) -> None:
    if is_dataclass(data) and not isinstance(data, type):
        data = getattr(data, "raw", None) or asdict(data)
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=_default) + "\n")


# Fields that count bytes: tables show them in binary units, JSON keeps the exact number.
SIZE_FIELDS = frozenset({"size", "virtual_size", "bytes_read", "bytes_total"})
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(value: int) -> str:
    """``512 B``, ``192 KiB``, ``1.0 GiB``: one decimal below 10 of a unit, like ``ls -h``."""
    if value < 1024:
        return f"{value} B"
    amount = float(value)
    for unit in _UNITS:
        amount /= 1024
        if round(amount, 1) < 1024 or unit == _UNITS[-1]:
            return f"{amount:.1f} {unit}" if round(amount, 1) < 10 else f"{amount:.0f} {unit}"
    raise AssertionError("unreachable")


def cell(name: str, value: Any) -> str:
    """A value as a table shows it."""
    if value is None:
        return ""
    if name in SIZE_FIELDS and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return human_size(value)
    return str(value)


def print_record(title: str, record: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("field", style="bold cyan")
    table.add_column("value", overflow="fold")
    for key, value in record.items():
        table.add_row(key, cell(key, value))
    console.print(table)


def fail(message: str, code: int = EXIT_API_ERROR) -> NoReturn:
    # The message is text, never markup: a server's detail or a name may hold "[...]".
    line = Text(t("error"), style="bold red")
    line.append(f" {message}")
    err_console.print(line, highlight=False)
    raise typer.Exit(code)


@contextmanager
def api_errors() -> Iterator[None]:
    """API and SDK errors exit 1 with what happened and the next step (cli/_errors.py), in the run's
    language; missing credentials are usage errors (2)."""
    try:
        yield
    except (CredentialsError, ScpImagesError) as exc:
        message, code = explain(exc)
        fail(message, code)
