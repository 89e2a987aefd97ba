"""Marker paging: the API has no "next" link, so a page shorter than the limit is the last one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


def paginate(
    fetch_page: Callable[[str | None, int], list[T]], page_size: int, marker: str | None = None
) -> Iterator[T]:
    """Yield every item, calling ``fetch_page(marker, page_size)`` lazily, one page at a time."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    while True:
        page = fetch_page(marker, page_size)
        yield from page
        if len(page) < page_size:
            return
        marker = page[-1].id
