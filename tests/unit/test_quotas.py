"""The quota rule on its own: effective limits, the room a request needs, and byte reservations that
keep concurrent writers of one account within its limit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scp_images.domain.errors import (
    ImageCountQuotaExceeded,
    ImageSizeQuotaExceeded,
    InvalidRequest,
    UploadingQuotaExceeded,
)
from scp_images.domain.quotas import UNLIMITED, Overrides, Quota, Usage, effective, require_room, reservation


def test_overrides_replace_defaults_and_minus_one_lifts_a_limit() -> None:
    defaults = Quota(images=10, bytes=1000, uploading=None)
    assert effective(defaults, None) == defaults
    assert effective(defaults, Overrides(images=UNLIMITED, uploading=2)) == Quota(None, 1000, 2)
    assert effective(defaults, Overrides(bytes=0)) == Quota(10, 0, None)


def test_set_keeps_the_overrides_it_does_not_name() -> None:
    earlier = Overrides(images=3, bytes=UNLIMITED)
    assert Overrides(uploading=1).over(earlier) == Overrides(3, UNLIMITED, 1)
    assert Overrides(images=UNLIMITED).over(earlier) == Overrides(UNLIMITED, UNLIMITED, None)
    with pytest.raises(InvalidRequest):
        Overrides(bytes=-2).validated()


def test_each_limit_is_refused_with_its_own_error_naming_limit_and_usage() -> None:
    quota = Quota(images=5, bytes=100, uploading=1)
    require_room(quota, Usage(4, 99, 0), images=1, uploading=1, bytes_room=True)
    with pytest.raises(ImageCountQuotaExceeded) as images:
        require_room(quota, Usage(5, 0, 0), images=1)
    assert images.value.params == {"limit": 5, "usage": 5}
    assert "image_count_total" in images.value.message and "5 images and has 5" in images.value.message
    with pytest.raises(UploadingQuotaExceeded):
        require_room(quota, Usage(0, 0, 1), uploading=1)
    with pytest.raises(ImageSizeQuotaExceeded) as size:
        require_room(quota, Usage(0, 100, 0), bytes_room=True)
    assert "image_size_total" in size.value.message and "100 bytes" in size.value.message
    require_room(Quota(), Usage(10**6, 10**18, 10**6), images=1, uploading=1, bytes_room=True)


def test_a_reservation_is_a_step_ahead_but_never_past_the_limit() -> None:
    assert reservation(None, 0, 10, 64) == 74
    assert reservation(1000, 100, 10, 64) == 74
    assert reservation(1000, 950, 10, 64) == 50
    assert reservation(1000, 900, 100, 64) == 100
    with pytest.raises(ImageSizeQuotaExceeded) as refused:
        reservation(1000, 900, 101, 64)
    assert refused.value.params == {"limit": 1000, "usage": 1001}


class Account:
    """Writers of one account reserving as the services do; a refused writer gives its bytes back."""

    def __init__(self, limit: int, stored: int, step: int, sizes: list[int]) -> None:
        self.limit, self.step, self.sizes = limit, step, sizes
        self.active = stored
        self.received = [0] * len(sizes)
        self.held = [0] * len(sizes)
        self.alive = [True] * len(sizes)
        self.finished = 0

    def feed(self, i: int, chunk: int) -> None:
        if not self.alive[i]:
            return
        self.received[i] += min(chunk, self.sizes[i] - self.received[i])
        if self.received[i] > self.held[i]:
            others = self.active + sum(h for j, h in enumerate(self.held) if j != i and self.alive[j])
            try:
                self.held[i] = reservation(self.limit, others, self.received[i], self.step)
            except ImageSizeQuotaExceeded:
                assert others + self.received[i] > self.limit
                self.alive[i], self.held[i] = False, 0
                return
        if self.received[i] == self.sizes[i]:  # finished: its bytes are now an active image's
            self.active += self.received[i]
            self.alive[i], self.held[i] = False, 0
            self.finished += 1

    def in_flight(self) -> int:
        return sum(r for j, r in enumerate(self.received) if self.alive[j])


@settings(max_examples=300, deadline=None)
@given(
    limit=st.integers(0, 5000),
    stored=st.integers(0, 2000),
    step=st.integers(1, 700),
    sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=4),
    order=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 400)), max_size=200),
)
def test_concurrent_writers_never_store_past_the_limit(
    limit: int, stored: int, step: int, sizes: list[int], order: list[tuple[int, int]]
) -> None:
    """In any interleaving, what writers have received plus what is stored never passes the limit; a
    writer is refused only when its own bytes would pass it given what the others hold; and when each
    would fit alone, at least one of them is stored."""
    account = Account(limit, min(stored, limit), step, sizes)
    for who, chunk in order:
        account.feed(who % len(sizes), chunk)
        assert account.active + account.in_flight() <= limit
    for i in range(len(sizes)):  # then every writer sends the rest
        while account.alive[i]:
            account.feed(i, 97)
            assert account.active + account.in_flight() <= limit
    if all(size <= limit - min(stored, limit) for size in sizes):
        assert account.finished >= 1


@given(limit=st.integers(0, 10_000), size=st.integers(1, 10_000), step=st.integers(1, 5000))
def test_a_lone_writer_is_stopped_exactly_at_the_chunk_that_crosses(limit: int, size: int, step: int) -> None:
    held = 0
    for received in range(1, size + 1):  # one byte at a time: the finest chunking
        if received > held:
            try:
                held = reservation(limit, 0, received, step)
            except ImageSizeQuotaExceeded:
                assert received == limit + 1
                return
    assert size <= limit
