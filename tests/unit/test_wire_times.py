"""rfc3339() has a fast path for the naive UTC times the store keeps: it must write what strftime writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from scp_images.http.schemas import rfc3339

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)))
def test_naive_times_read_as_strftime_writes_them(value: datetime) -> None:
    assert rfc3339(value) == value.strftime(_FORMAT)


@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=9))])))
def test_aware_times_read_as_strftime_writes_them(value: datetime) -> None:
    assert rfc3339(value) == value.strftime(_FORMAT)


def test_microseconds_are_dropped_and_the_year_is_four_digits() -> None:
    assert rfc3339(datetime(2026, 1, 2, 3, 4, 5, 999999)) == "2026-01-02T03:04:05Z"
