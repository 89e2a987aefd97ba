"""Image ids: the precompiled check accepts exactly what ``uuid.UUID`` parses and prints back as the
value lower-cased, the definition it replaced on the hot show path."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scp_images.domain.errors import MalformedImageId
from scp_images.domain.image import parse_image_id


def _by_uuid(value: str) -> str | None:
    """The former definition: the canonical form, or None for a malformed id."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return str(parsed) if str(parsed) == value.lower() else None


def _parsed(value: str) -> str | None:
    try:
        return parse_image_id(value)
    except MalformedImageId:
        return None


def _mangled(draw: st.DrawFn) -> str:
    text = str(draw(st.uuids()))
    text = "".join(c.upper() if draw(st.booleans()) else c for c in text)
    position = draw(st.integers(0, len(text)))
    insert = draw(st.sampled_from(["", "", "-", "{", "}", "urn:uuid:", "\n", " ", "g", "٣", "K", "İ"]))
    drop = draw(st.integers(0, 2))
    return text[:position] + insert + text[position + drop :]


@given(st.one_of(st.uuids().map(str), st.composite(_mangled)(), st.text(max_size=40)))
def test_the_check_matches_uuid_parsing(value: str) -> None:
    assert _parsed(value) == _by_uuid(value)


@pytest.mark.parametrize(
    "value",
    [
        "{12345678-1234-5678-1234-567812345678}",
        "urn:uuid:12345678-1234-5678-1234-567812345678",
        "12345678123456781234567812345678",
        "12345678-1234-5678-1234-567812345678\n",
        "12345678-1234-5678-1234-56781234567٣",
    ],
)
def test_other_spellings_are_malformed(value: str) -> None:
    with pytest.raises(MalformedImageId):
        parse_image_id(value)


def test_upper_case_is_the_same_id() -> None:
    assert parse_image_id("ABCDEF01-1234-5678-9ABC-DEF012345678") == "abcdef01-1234-5678-9abc-def012345678"
