"""The access log's records (``logs.CallSite``) are the records ``Logger.info`` makes for the same call:
same fields and values apart from the clock and the source location, same JSON line, same handlers."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest

from scp_images.logs import CallSite, ConsoleFormatter, JsonFormatter

_CLOCK = {"created", "msecs", "relativeCreated"}
_SOURCE = {"pathname", "filename", "module", "lineno", "funcName"}


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_call_site_record_is_logger_info_s() -> None:
    logger = logging.getLogger("scp_images.test_access_records")
    keep = _Keep()
    logger.addHandler(keep)
    logger.setLevel(logging.INFO)
    site = CallSite(logger, logging.INFO, "%s %s %d")
    fields = {"request_id": "req-1", "status": 200, "duration_ms": 1.5, "api_version": None}
    try:
        assert site.enabled()
        logger.info("%s %s %d", "GET", "/v1/images", 200, extra=fields)
        site.emit(("GET", "/v1/images", 200), fields)
    finally:
        logger.removeHandler(keep)
    by_info, by_site = keep.records
    assert by_site.__dict__.keys() == by_info.__dict__.keys()
    skip = _CLOCK | _SOURCE
    assert {k: v for k, v in by_site.__dict__.items() if k not in skip} == {
        k: v for k, v in by_info.__dict__.items() if k not in skip
    }
    assert by_site.getMessage() == "GET /v1/images 200"
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in (by_info, by_site)]
    without_time = [{k: v for k, v in line.items() if k != "time"} for line in lines]
    assert without_time[0] == without_time[1]
    assert list(lines[0]) == list(lines[1])  # the same keys in the same order


def test_a_disabled_level_is_seen_by_the_caller() -> None:
    logger = logging.getLogger("scp_images.test_access_records.quiet")
    logger.setLevel(logging.WARNING)
    assert not CallSite(logger, logging.INFO, "%s").enabled()


def _json_logger(name: str, stream: io.StringIO) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    return logger


def test_the_direct_line_is_the_records_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``serve``'s set-up (one StreamHandler, JsonFormatter) the line is written without a record;
    it must be the line the record makes through the handler, byte for byte."""
    monkeypatch.setattr(time, "time", lambda: 1_765_152_000.123456)
    stream = io.StringIO()
    logger = _json_logger("scp_images.test_access_records.direct", stream)
    site = CallSite(logger, logging.INFO, "%s %s %d")
    fields = {"request_id": "req-1", "method": "GET", "status": 200, "duration_ms": 1.5, "api_version": None}
    site.emit(("GET", "/v1/images/é", 200), fields)  # the direct line
    direct = stream.getvalue()
    keep = _Keep()
    logger.addHandler(keep)  # a second handler: the record's own path
    site.emit(("GET", "/v1/images/é", 200), fields)
    through_record = stream.getvalue()[len(direct) :]
    assert len(keep.records) == 1  # only the second call made a record
    assert direct == through_record
    assert direct.startswith('{"time": "2025-12-08T00:00:00.123+00:00", "level": "info", "logger": ')
    assert direct.endswith('"status": 200, "duration_ms": 1.5, "api_version": null}\n')


@pytest.mark.parametrize("change", ["filter", "console", "level", "field"])
def test_anything_but_serves_set_up_gets_the_record(change: str) -> None:
    """What the direct line would get wrong is left to the record's path: a filter sees the record, a
    console formatter writes its own line, a handler's level holds, a field named like a record
    attribute is treated as the record treats it."""
    stream = io.StringIO()
    logger = _json_logger(f"scp_images.test_access_records.{change}", stream)
    handler = logger.handlers[0]
    seen: list[logging.LogRecord] = []
    fields: dict[str, object] = {"request_id": "req-1"}
    if change == "filter":
        handler.addFilter(lambda record: seen.append(record) is None)
    elif change == "console":
        handler.setFormatter(ConsoleFormatter())
    elif change == "level":
        handler.setLevel(logging.WARNING)
    else:
        fields["name"] = "shadowed"
    CallSite(logger, logging.INFO, "%s").emit(("x",), fields)
    written = stream.getvalue()
    if change == "filter":
        assert len(seen) == 1 and '"request_id": "req-1"' in written
    elif change == "console":
        assert "request_id=req-1" in written and not written.startswith("{")
    elif change == "level":
        assert written == ""
    else:
        assert '"logger": "shadowed"' in written and '"name"' not in written
