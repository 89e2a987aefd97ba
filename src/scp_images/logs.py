"""Logs: one JSON object per line where a machine reads them, readable lines on a terminal.

Both carry the same records; the request id and other ``extra`` fields are JSON keys, or ``key=value``
after the message on a terminal. ``auto`` picks console when the stream is a terminal, else JSON."""

from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from typing import Any

LOG_FORMATS = ("auto", "json", "console")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


# json.dumps(entry, default=str) builds this encoder on every call; the text is the same.
_ENCODER = json.JSONEncoder(default=str)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


_LOGGING_STARTED: float = logging._startTime  # type: ignore[attr-defined]  # relativeCreated's origin
# What LogRecord.__init__ sets anew for each record; CallSite keeps the rest from one template record.
_PER_RECORD = frozenset(
    ("args", "created", "msecs", "relativeCreated", "thread", "threadName", "process", "processName")
)


class CallSite:
    """One log call made often (the access log: one per request), its records made without
    ``Logger.info``'s per-call work: no caller lookup through the stack, no ``LogRecord.__init__``
    (basename, splitext, the level's name), no ``extra`` loop. The record is the ``LogRecord`` that call
    would make, with the same fields (source location: where the ``CallSite`` is made), handed to the
    logger's handlers as ``Logger.handle`` does; the caller checks ``enabled()`` first. Where the record's
    only destination is a ``StreamHandler`` with ``JsonFormatter`` (``serve``'s own set-up), the line is
    written without making the record, with the same text."""

    def __init__(self, logger: logging.Logger, level: int, msg: str) -> None:
        code, line = sys._getframe(1).f_code, sys._getframe(1).f_lineno
        template = logger.makeRecord(logger.name, level, code.co_filename, line, msg, (), None, code.co_name)
        self._fixed = {k: v for k, v in template.__dict__.items() if k not in _PER_RECORD}
        self._logger = logger
        self._level = level
        self._msg = msg
        self._level_name = template.levelname.lower()
        self._new = logging.LogRecord.__new__

    def enabled(self) -> bool:
        return self._logger.isEnabledFor(self._level)

    def emit(self, args: tuple[Any, ...], fields: dict[str, Any]) -> None:
        handler = self._only_json_handler()
        # (A field named like a record attribute is left out by the formatter: the record's path decides.)
        if handler is not None and _STANDARD.isdisjoint(fields):
            try:
                self._write_line(handler, args, fields)
                return
            except Exception:  # the handler's own path says what went wrong (handleError)
                pass
        self._emit_record(args, fields)

    def _only_json_handler(self) -> logging.StreamHandler[Any] | None:
        """The one handler the record would reach, when it is a ``StreamHandler`` with our
        ``JsonFormatter`` and nothing on the way filters: then the line is written directly (below).
        Anything else (a second handler, a filter, another formatter, tests capturing records) gets the
        record as ``Logger.handle`` gives it. Checked on every call: handlers may change at any time."""
        found: logging.Handler | None = None
        logger: logging.Logger | None = self._logger
        while logger is not None:
            if logger.filters or logger.disabled:
                return None
            for handler in logger.handlers:
                if found is not None:
                    return None
                found = handler
            logger = logger.parent if logger.propagate else None  # type: ignore[assignment]
        if (
            type(found) is not logging.StreamHandler
            or type(found.formatter) is not JsonFormatter
            or found.filters
            or found.level > self._level
        ):
            return None
        return found

    def _write_line(
        self, handler: logging.StreamHandler[Any], args: tuple[Any, ...], fields: dict[str, Any]
    ) -> None:
        """The line ``JsonFormatter`` makes of this call's record and ``StreamHandler.emit`` writes,
        made without the record: the access log's line is a quarter of a Show's server time through
        ``Logger.handle`` (record, three loggers' walk, two handler locks, the formatter's scan of the
        record's ~30 attributes), and its text is the same (``tests/unit/test_access_records.py``)."""
        entry = _json_entry(time.time(), self._level_name, self._logger.name, self._msg % args)
        entry.update(fields)
        text = _ENCODER.encode(entry) + handler.terminator
        with handler.lock:  # type: ignore[union-attr]
            stream = handler.stream
            stream.write(text)
            if hasattr(stream, "flush"):
                stream.flush()

    def _emit_record(self, args: tuple[Any, ...], fields: dict[str, Any]) -> None:
        record = self._new(logging.LogRecord)
        now = time.time()
        entry = record.__dict__
        entry.update(self._fixed)
        entry["args"] = args
        entry["created"] = now
        entry["msecs"] = int((now - int(now)) * 1000) + 0.0
        entry["relativeCreated"] = (now - _LOGGING_STARTED) * 1000
        thread = threading.current_thread()
        entry["thread"] = thread.ident
        entry["threadName"] = thread.name
        entry["processName"] = _process_name()
        entry["process"] = os.getpid()
        entry.update(fields)
        self._logger.handle(record)


def _process_name() -> str:
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is None:
        return "MainProcess"
    try:
        return str(multiprocessing.current_process().name)
    except Exception:  # as LogRecord: multiprocessing may be half imported
        return "MainProcess"


def _json_entry(created: float, level: str, logger: str, message: str) -> dict[str, Any]:
    """A JSON line's fixed fields, for ``JsonFormatter`` and the access line written without a record."""
    return {
        "time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "message": message,
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = _json_entry(record.created, record.levelname.lower(), record.name, record.getMessage())
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


class ConsoleFormatter(logging.Formatter):
    """``12:00:01.234 WARNING  scrub  message  key=value``; a multi-line message (the first-start banner)
    keeps its lines and shows no fields. With a ``width`` (a terminal's), a longer line is wrapped at a
    word with its continuation indented under the logger's name, so an 80-column terminal does not cut
    words; a single word longer than the line (a URL, a path) is kept whole, to be copied."""

    def __init__(self, width: int | None = None) -> None:
        super().__init__()
        self._width = width

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        name = _SHOWN_NAMES.get(record.name) or record.name.removeprefix("scp_images.")
        line = f"{when} {record.levelname:<7}  {name}  {record.getMessage()}"
        extras = _extras(record)
        head, newline, block = line.partition("\n")
        if extras and not newline:  # a block of text (the banner) says it all already
            head += "  " + " ".join(f"{key}={_shown(value)}" for key, value in extras.items())
        if self._width is not None and len(head) > self._width:
            head = _wrapped(head, self._width)  # a block's own lines are laid out by its writer
        line = head + newline + block
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


# uvicorn names its server's logger "uvicorn.error", which reads as an error on every start.
_SHOWN_NAMES = {"uvicorn.error": "uvicorn"}
_HANGING_INDENT = " " * len("12:00:01.234 WARNING  ")


def _wrapped(line: str, width: int) -> str:
    return textwrap.fill(
        line,
        width=width,
        subsequent_indent=_HANGING_INDENT,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _terminal_width(stream: Any) -> int:
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        columns = 0
    return columns if columns >= 40 else 80  # a pseudo-terminal with no size yet says 0


def _shown(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c.isspace() or c in '"=' for c in text) else text


def formatter_for(log_format: str, stream: Any) -> logging.Formatter:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r}: expected one of {', '.join(LOG_FORMATS)}")
    is_tty = getattr(stream, "isatty", None)
    on_terminal = is_tty is not None and is_tty()
    if log_format == "auto":
        log_format = "console" if on_terminal else "json"
    if log_format == "json":
        return JsonFormatter()
    return ConsoleFormatter(_terminal_width(stream) if on_terminal else None)


def configure_logging(level: str = "info", stream: Any = None, log_format: str = "auto") -> None:
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter_for(log_format, stream))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic says a few INFO lines per migration step; the database module logs one line for the upgrade.
    logging.getLogger("alembic").setLevel(logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING)
