"""The S3 store's part schedule, as pure arithmetic: S3's part rules hold and the default reaches >= 1 TiB."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scp_images.config import Settings
from scp_images.store.blob.s3_parts import (
    DEFAULT_PART_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    PartSchedule,
)

MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40


def sizes(schedule: PartSchedule) -> list[int]:
    return [schedule.size(number) for number in range(1, schedule.max_parts + 1)]


def parts_needed(schedule: PartSchedule, blob_size: int) -> tuple[int, int]:
    """How many parts a blob of ``blob_size`` takes, and the largest of them."""
    total = 0
    for number in range(1, schedule.max_parts + 1):
        total += schedule.size(number)
        if total >= blob_size:
            return number, schedule.size(number)
    raise AssertionError(f"{blob_size} does not fit")


def test_the_default_schedule_holds_more_than_a_tebibyte_within_s3_rules() -> None:
    schedule = PartSchedule()
    all_sizes = sizes(schedule)
    assert len(all_sizes) == MAX_PARTS == 10_000
    assert schedule.capacity() == sum(all_sizes) >= 5 * TiB  # past S3's own object limit
    assert all(MIN_PART_SIZE <= size <= MAX_PART_SIZE for size in all_sizes)
    assert all_sizes == sorted(all_sizes)
    assert all_sizes[:1000] == [DEFAULT_PART_SIZE] * 1000  # images under 15.6 GiB: 16 MiB parts as before
    assert all_sizes[1000] == 2 * DEFAULT_PART_SIZE


def test_a_tebibyte_takes_about_six_thousand_parts_of_at_most_a_gibibyte() -> None:
    count, largest = parts_needed(PartSchedule(), TiB)
    assert 6_000 <= count <= 6_100
    assert largest == GiB


@given(
    first=st.integers(MIN_PART_SIZE, MAX_PART_SIZE),
    max_parts=st.integers(1, MAX_PARTS),
)
def test_any_schedule_keeps_every_part_within_s3_limits(first: int, max_parts: int) -> None:
    schedule = PartSchedule(first, max_parts)
    step = schedule.parts_per_size
    checked = {1, 2, step, step + 1, 2 * step + 1, max_parts - 1, max_parts}
    for number in sorted(n for n in checked if 1 <= n <= max_parts):
        size = schedule.size(number)
        # Every part but the blob's last is filled to its planned size, so >= 5 MiB is the rule to keep.
        assert MIN_PART_SIZE <= first <= size <= MAX_PART_SIZE
        assert size == min(first << (number - 1) // step, MAX_PART_SIZE)
    assert schedule.capacity() >= first * max_parts


def test_capacity_is_the_sum_of_the_parts_scaled_down() -> None:
    schedule = PartSchedule(MIN_PART_SIZE, 20)  # doubles every 2 parts
    assert sizes(schedule)[:6] == [5 * MiB, 5 * MiB, 10 * MiB, 10 * MiB, 20 * MiB, 20 * MiB]
    assert sizes(schedule)[-1] == 5 * MiB << 9
    assert schedule.capacity() == sum(sizes(schedule))
    capped = PartSchedule(3 * GiB, 20)
    assert sizes(capped)[:4] == [3 * GiB, 3 * GiB, MAX_PART_SIZE, MAX_PART_SIZE]
    assert capped.capacity() == sum(sizes(capped))


@pytest.mark.parametrize(
    ("first", "max_parts"),
    [(MIN_PART_SIZE - 1, 10), (MAX_PART_SIZE + 1, 10), (MIN_PART_SIZE, 0), (MIN_PART_SIZE, MAX_PARTS + 1)],
)
def test_out_of_range_settings_are_refused(first: int, max_parts: int) -> None:
    with pytest.raises(ValueError):
        PartSchedule(first, max_parts)


def test_part_numbers_outside_the_budget_are_refused() -> None:
    schedule = PartSchedule(max_parts=3)
    for number in (0, 4):
        with pytest.raises(ValueError):
            schedule.size(number)


def test_the_default_import_limit_fits_the_default_s3_store() -> None:
    default_limit = Settings.model_fields["import_max_bytes"].default
    assert default_limit <= PartSchedule().capacity()
