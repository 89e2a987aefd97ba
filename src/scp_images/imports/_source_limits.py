"""The size and chunking limits every source enforces, and the refusal for an object that is too large."""

from __future__ import annotations

from dataclasses import dataclass

from scp_images.domain.errors import DiskImageRejected


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    chunk_size: int


def too_large(what: str, max_bytes: int, size: int | None = None) -> DiskImageRejected:
    said = "more" if size is None else f"{size} bytes, more"
    return DiskImageRejected("too_large", f"{what} is {said} than the limit of {max_bytes} bytes")
