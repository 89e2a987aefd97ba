"""Text a caller chose (a presented access key, a path id) is stored as printable ASCII within its column."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from scp_images.domain.audit import as_text


@given(st.text(), st.integers(min_value=0, max_value=300))
@example("AK\x00\u00e9\u200b\n" + "x" * 100, 64)
def test_presented_text_is_printable_and_bounded(value: str, limit: int) -> None:
    kept = as_text(value, limit)
    assert kept is not None
    assert len(kept) == min(len(value), limit)
    assert all(" " <= c <= "~" for c in kept)
    # Printable ASCII is kept as it was.
    assert all(k == v for k, v in zip(kept, value, strict=False) if " " <= v <= "~")
