"""The access log's records (``logs.CallSite``) are the records ``Logger.info`` makes for the same call:
same fields and values apart from the clock and the source location, same JSON line, same handlers."""

from __future__ import annotations

import json
import logging

from scp_images.logs import CallSite, JsonFormatter

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
