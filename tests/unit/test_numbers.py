"""Parsing numbers from requests without int()'s 4,300-digit limit: ``limit`` and ``Range``."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from scp_images.domain.errors import InvalidRequest
from scp_images.domain.listing import MAX_LIMIT, parse_limit
from scp_images.http.transfers.download import _byte_range, _Unsatisfiable

digits = st.one_of(
    st.integers(min_value=0, max_value=10**25).map(str),
    st.integers(min_value=1, max_value=9000).map(lambda n: "9" * n),
    st.tuples(st.integers(0, 6000), st.integers(0, 2000)).map(lambda t: "0" * t[0] + str(t[1])),
)


@given(text=digits)
@example(text="9" * 5000)
@example(text="0" * 5000 + "7")
def test_parse_limit_takes_any_digit_string(text: str) -> None:
    value = Decimal(text)
    if 1 <= value <= MAX_LIMIT:
        assert parse_limit(text) == int(value)
    else:
        with pytest.raises(InvalidRequest):
            parse_limit(text)


@given(first=st.one_of(st.just(""), digits), last=st.one_of(st.just(""), digits), size=st.integers(0, 10**13))
@example(first="9" * 5000, last="", size=100)
@example(first="", last="9" * 5000, size=100)
@example(first="0", last="9" * 5000, size=100)
def test_byte_range_matches_exact_arithmetic(first: str, last: str, size: int) -> None:
    header = f"bytes={first}-{last}"
    if first == last == "":
        assert _byte_range(header, size) is None
        return
    if first == "":
        length = Decimal(last)
        expected: tuple[int, int] | None = (
            None if length == 0 or size == 0 else (int(max(0, size - min(length, size))), size - 1)
        )
    else:
        start = Decimal(first)
        end = size - 1 if last == "" else int(min(Decimal(last), size - 1))
        expected = None if start >= size or end < start else (int(start), end)
    if expected is None:
        with pytest.raises(_Unsatisfiable):
            _byte_range(header, size)
    else:
        assert _byte_range(header, size) == expected


@pytest.mark.parametrize(
    "header", ["bytes=١-٢", "bytes=0-1,2-3", "bytes=--1", "bytes=0x1-", "bytes=+1-", "items=0-1", "", None]
)
def test_malformed_ranges_mean_the_whole_file(header: str | None) -> None:
    assert _byte_range(header, 100) is None
