"""Printing helpers shared by the CLI commands: JSON, tables and errors with stable exit codes.

Everything a tenant (or a caller) wrote reaches the terminal through :func:`safe`: markup is never
interpreted (text is printed as ``rich.text.Text``), control characters are shown escaped and one record
is one line. Tables are laid out here, in :func:`print_table`, for every command: on a terminal they fit its
width (short ids, compact times, long names cut with ``…``); piped, or with ``--long``, they are complete
and stable (full values, fixed columns, no cutting)."""

from __future__ import annotations

import json
import os
import re
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime
from typing import Any, NoReturn

import typer
from rich.cells import cell_len
from rich.console import Console
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

# --- text a tenant wrote -----------------------------------------------------------------------

# Bidi embeddings/overrides/isolates and marks: they reorder what follows on the line.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escaped(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _unsafe(char: str) -> bool:
    # Cc: C0, DEL and C1 (U+0080-U+009F); Zl/Zp: line and paragraph separators; Cs: lone surrogates
    return char in _BIDI or unicodedata.category(char) in {"Cc", "Zl", "Zp", "Cs"}


def safe(value: Any, keep_newlines: bool = False) -> str:
    """``value`` as text a terminal shows literally: control characters (C0 with ESC, DEL, C1), bidi
    controls and line separators become escapes such as ``\\x1b``, ``\\n`` or ``\\u202e``, so nothing can
    move the cursor, colour, link or start a fake line. Markup stays plain text as long as the result is
    printed as a ``Text`` (``print_text``, ``print_table``, ``print_record`` do)."""
    text = "" if value is None else str(value)
    return "".join(_escaped(c) if _unsafe(c) and not (keep_newlines and c == "\n") else c for c in text)


_PLAIN = re.compile(r"[A-Za-z0-9._@:/+=-]+")


def quoted(value: Any) -> str:
    """Like :func:`safe`, but in double quotes unless it is one plain word: a value with spaces or quotes
    (a presented access key, say) cannot pass for the columns after it."""
    text = safe(value)
    if value is None or _PLAIN.fullmatch(text):
        return text
    return '"' + safe(str(value).replace("\\", "\\\\").replace('"', '\\"')) + '"'


def print_text(message: Any, *, stderr: bool = False) -> None:
    """One line of plain text: never read as markup, never highlighted."""
    target = err_console if stderr else console
    target.print(Text(safe(message, keep_newlines=True)), soft_wrap=True, highlight=False)


def print_done(message: str, as_json: bool, result: dict[str, Any]) -> None:
    """What an action did: one line, or with ``--json`` a small object saying the same."""
    if as_json:
        print_json(result)
    else:
        print_text(message)


# --- JSON --------------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    raise TypeError(f"cannot encode {type(value).__name__}")


def print_json(data: Any) -> None:
    if is_dataclass(data) and not isinstance(data, type):
        data = getattr(data, "raw", None) or asdict(data)
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=_default) + "\n")


# --- sizes and cells ---------------------------------------------------------------------------

# Fields that count bytes: tables show them in binary units, JSON keeps the exact number.
SIZE_FIELDS = frozenset({"size", "virtual_size", "bytes_read", "bytes_total", "original_size"})
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


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def cell(name: str, value: Any) -> str:
    """A value as a record or table shows it, whole and safe to print."""
    if value is None:
        return ""
    if name in SIZE_FIELDS and _is_count(value):
        return human_size(value)
    if isinstance(value, datetime):
        return _default(value)
    if isinstance(value, dict):
        return ", ".join(f"{safe(k)}={safe(v)}" for k, v in sorted(value.items()))
    if isinstance(value, list | tuple):
        return ", ".join(safe(item) for item in value)
    return safe(value)


SHORT_ID = 8  # as many characters as `git log --oneline` shows, and the shortest prefix `image` accepts


def short_id(value: str) -> str:
    return value[:SHORT_ID]


def compact_time(value: Any) -> str:
    """``2026-12-07 11:58`` (UTC, as the API gives it) from an ISO-8601 string or a datetime."""
    text = _default(value) if isinstance(value, datetime) else str(value)
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d(\.\d+)?)?(Z|[+-]00:?00)?", text)
    return f"{match[1]} {match[2]}" if match else safe(text)


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` terminal cells, its end replaced by ``…`` when it is longer."""
    if cell_len(text) <= width:
        return text
    kept, used = [], 0
    for char in text:
        used += cell_len(char)
        if used > width - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"


# --- tables ------------------------------------------------------------------------------------

GAP = "  "


@dataclass(frozen=True, slots=True)
class Column:
    """``kind``: ``text``, ``id`` (shortened on a terminal; quoted when not one plain word), ``time``
    (compact on a terminal), ``size`` or ``quoted`` (text in quotes unless it is one plain word). ``cut``: on
    a terminal, longer text is cut to this many cells. ``drop``: a terminal too narrow for every column loses
    the highest first (0: never).
    ``long``: shown only with ``--long``."""

    key: str
    kind: str = "text"
    cut: int | None = None
    drop: int = 0
    long: bool = False
    header: str | None = None


NAME_WIDTH = 30  # names up to this many characters stay whole in a table


def name_column(key: str = "name") -> Column:
    return Column(key, cut=NAME_WIDTH)


def _value(column: Column, value: Any, terse: bool) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if column.kind == "id" and not _PLAIN.fullmatch(str(value)):
        # an id as a caller sent it (an audit record's): quoted, so it cannot pass for other columns
        text = quoted(value)
        return cut(text, SHORT_ID + 4) if terse else text
    if column.kind == "id" and terse:
        return short_id(str(value))
    if column.kind == "time":
        return compact_time(value) if terse else cell(column.key, value)
    if column.kind == "size":
        return human_size(value) if _is_count(value) else cell(column.key, value)
    text = quoted(value) if column.kind == "quoted" else cell(column.key, value)
    return cut(text, column.cut) if terse and column.cut else text


def _fit(columns: list[Column], widths: list[int], width: int) -> tuple[list[Column], list[int]]:
    """Drop the most droppable columns until the table fits; then cut the widest text column."""

    def total() -> int:
        return sum(widths) + len(GAP) * (len(widths) - 1)

    while total() > width and any(c.drop for c in columns):
        worst = max(range(len(columns)), key=lambda i: (columns[i].drop, i))
        del columns[worst], widths[worst]
    if total() > width:
        texts = [i for i, c in enumerate(columns) if c.kind in {"text", "quoted"}]
        if texts:
            widest = max(texts, key=lambda i: widths[i])
            header = len(columns[widest].header or columns[widest].key)
            widths[widest] = max(header, widths[widest] - (total() - width))
    return columns, widths


def print_table(
    columns: Sequence[Column],
    rows: Sequence[dict[str, Any]],
    long: bool = False,
    stream: Console | None = None,
) -> None:
    """Rows under a header line. On a terminal (without ``long``): short ids, compact times, names cut
    at ``NAME_WIDTH`` and no line wider than the terminal. Piped, or with ``long``: every value whole,
    columns fixed (``long`` adds the long-only ones), so scripts and ``grep`` see the same thing always."""
    out = stream or console
    terse = out.is_terminal and not long
    shown = [c for c in columns if long or not c.long]
    cells = [[_value(c, row.get(c.key), terse) for c in shown] for row in rows]
    headers = [c.header or c.key for c in shown]
    widths = [max([cell_len(h)] + [cell_len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    if terse:
        kept, widths = _fit(list(shown), widths, out.width)
        index = [shown.index(c) for c in kept]
        headers = [headers[i] for i in index]
        cells = [[cut(r[i], widths[n]) for n, i in enumerate(index)] for r in cells]

    def line(values: list[str]) -> str:
        padded = (v + " " * (w - cell_len(v)) for v, w in zip(values, widths, strict=True))
        return GAP.join(padded).rstrip()

    out.print(Text(line(headers), style="bold"), soft_wrap=True, highlight=False)
    for row in cells:
        out.print(Text(line(row)), soft_wrap=True, highlight=False)


def print_record(title: str, record: dict[str, Any]) -> None:
    """One field a line under a title, every value whole: on a terminal a long value continues on the
    next lines (indented under the values); piped, each field is exactly one line."""
    console.print(Text(safe(title), style="bold"), soft_wrap=True, highlight=False)
    keys = [safe(k) for k in record]
    key_width = max((cell_len(k) for k in keys), default=0)
    room = console.width - key_width - len(GAP) if console.is_terminal else 0
    for key, value in zip(keys, record.values(), strict=True):
        text = cell(key, value)
        parts = _chunks(text, room) if room > 8 else [text]
        lead = Text(key.ljust(key_width), style="bold cyan")
        console.print(Text.assemble(lead, GAP, parts[0]), soft_wrap=True, highlight=False)
        for part in parts[1:]:
            console.print(Text(" " * (key_width + len(GAP)) + part), soft_wrap=True, highlight=False)


def _chunks(text: str, width: int) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        size = cell_len(char)
        if used + size > width:
            chunks.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += size
    return [*chunks, "".join(current)]


# --- errors ------------------------------------------------------------------------------------


def print_error(message: str) -> None:
    text = Text.assemble((t("error"), "bold red"), " ", safe(message, keep_newlines=True))
    # On a terminal Rich folds the message between words at the terminal's width; piped, it is never
    # folded (a log or a test reads one line), where soft wrap would leave a terminal to cut words in two.
    err_console.print(text, soft_wrap=not err_console.is_terminal)


def fail(message: str, code: int = EXIT_API_ERROR) -> NoReturn:
    print_error(message)
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
