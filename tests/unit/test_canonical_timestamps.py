"""``Scp-Timestamp`` has one spelling: canonical decimal milliseconds. The signed string has no separators,
so any second spelling of the same number would let a digit move between the URL and the timestamp."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from scp_images.services.access.auth import canonical_millis
from scp_images.signing import sign_request

NOW = "1767225600000"


@given(st.integers(min_value=0, max_value=10**16 - 1))
def test_every_canonical_number_is_read_as_itself(millis: int) -> None:
    assert canonical_millis(str(millis)) == millis


@given(st.text(max_size=20))
@example("0" + NOW)
@example("+" + NOW)
@example(" " + NOW)
@example(NOW + " ")
@example("1_767_225_600_000")
@example("٣" * 13)
@example("１７６７")
@example("-0")
@example("00")
@example("")
def test_a_value_is_read_only_when_it_is_the_canonical_spelling_of_its_number(value: str) -> None:
    millis = canonical_millis(value)
    if millis is not None:
        assert str(millis) == value
        assert 0 <= millis < 10**16
    else:
        assert not (value.isascii() and value.isdigit() and str(int(value)) == value and len(value) <= 16)


@pytest.mark.parametrize(
    "value",
    ["0" + NOW, "+" + NOW, " " + NOW, NOW + "\t", "1_767_225_600_000", "٣" * 13, "-1", "1e12", "1" * 17],
)
def test_other_spellings_are_refused(value: str) -> None:
    assert canonical_millis(value) is None


def test_a_lone_zero_is_canonical() -> None:
    assert canonical_millis("0") == 0


def test_the_sdk_signs_canonical_timestamps_and_refuses_negative_ones() -> None:
    assert sign_request("GET", "http://h/v1/images", "AK", "SK", timestamp_ms=0).timestamp == "0"
    assert canonical_millis(sign_request("GET", "http://h/v1/images", "AK", "SK").timestamp) is not None
    with pytest.raises(ValueError, match="epoch milliseconds"):
        sign_request("GET", "http://h/v1/images", "AK", "SK", timestamp_ms=-1)
