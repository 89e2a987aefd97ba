"""Logs: one JSON object per line where a machine reads them, readable lines on a terminal.

Both carry the same records; the request id and other ``extra`` fields are JSON keys, or ``key=value``
after the message on a terminal. ``auto`` picks console when the stream is a terminal, else JSON."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

LOG_FORMATS = ("auto", "json", "console")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    """``12:00:01.234 WARNING  scrub  message  key=value``; a multi-line message (the first-start banner)
    keeps its lines and shows no fields."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        name = record.name.removeprefix("scp_images.")
        line = f"{when} {record.levelname:<7}  {name}  {record.getMessage()}"
        extras = _extras(record)
        if extras and "\n" not in line:  # a block of text (the banner) says it all already
            line += "  " + " ".join(f"{key}={_shown(value)}" for key, value in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _shown(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c.isspace() or c in '"=' for c in text) else text


def formatter_for(log_format: str, stream: Any) -> logging.Formatter:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r}: expected one of {', '.join(LOG_FORMATS)}")
    if log_format == "auto":
        is_tty = getattr(stream, "isatty", None)
        log_format = "console" if is_tty is not None and is_tty() else "json"
    return ConsoleFormatter() if log_format == "console" else JsonFormatter()


def configure_logging(level: str = "info", stream: Any = None, log_format: str = "auto") -> None:
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter_for(log_format, stream))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic says a few INFO lines per migration step; the database module logs one line for the upgrade.
    logging.getLogger("alembic").setLevel(logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING)
