"""How the S3 blob store cuts a blob into multipart-upload parts, and where a part waits before it is sent.

S3 allows at most 10,000 parts of 5 MiB to 5 GiB each (the last part may be smaller). Fixed 16 MiB parts
would cap a blob at 160 GiB, fixed large parts would make every small upload hold large buffers. So parts
start small and grow: the size doubles after every tenth of the part budget (parts 1-1000 are 16 MiB,
1001-2000 are 32 MiB, ...) and stops at 5 GiB. With the defaults a blob can reach 12.6 TiB, beyond S3's own
5 TiB object limit, and a 1 TiB blob is cut into about 6,000 parts of at most 1 GiB.

A part waits in memory while it is small, and in an unlinked temporary file once parts outgrow
``SPOOL_ABOVE``, so a writer holds at most three in-memory parts (two in flight, one being filled) whatever
the blob's size.
"""

from __future__ import annotations

import tempfile
from typing import IO

__all__ = [
    "DEFAULT_PART_SIZE",
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MIN_PART_SIZE",
    "SPOOL_ABOVE",
    "Part",
    "PartSchedule",
]

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 16 * MiB
SPOOL_ABOVE = 64 * MiB
GROWTH_STEPS = 10  # the part size doubles this many times over the part budget (unless capped first)


class PartSchedule:
    """The size of every part of one upload: ``first``, doubled after each tenth of ``max_parts``."""

    def __init__(self, first: int = DEFAULT_PART_SIZE, max_parts: int = MAX_PARTS) -> None:
        if not MIN_PART_SIZE <= first <= MAX_PART_SIZE:
            raise ValueError(f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes")
        if not 1 <= max_parts <= MAX_PARTS:
            raise ValueError(f"max_parts must be between 1 and {MAX_PARTS}")
        self.first = first
        self.max_parts = max_parts
        self.parts_per_size = max(1, max_parts // GROWTH_STEPS)

    def size(self, number: int) -> int:
        """Size of part ``number`` (1-based); every part but the blob's last is filled to exactly this."""
        if not 1 <= number <= self.max_parts:
            raise ValueError(f"part number {number} is outside 1..{self.max_parts}")
        return min(self.first << (number - 1) // self.parts_per_size, MAX_PART_SIZE)

    def capacity(self) -> int:
        """The largest blob the schedule can hold: the sum of all part sizes."""
        total, number = 0, 1
        while number <= self.max_parts:
            run = min(self.parts_per_size, self.max_parts - number + 1)
            total += run * self.size(number)
            number += run
        return total


class Part:
    """One part being filled: in a bytearray, or in an unlinked temporary file when ``spool`` is set."""

    def __init__(self, number: int, capacity: int, *, spool: bool) -> None:
        self.number = number
        self.capacity = capacity
        self.size = 0
        self._memory = bytearray()
        # Unlinked at once (O_TMPFILE on Linux): a crash leaves nothing behind; close() frees the space.
        spool_file = tempfile.TemporaryFile(prefix="scp-images-part-") if spool else None  # noqa: SIM115
        self._file: IO[bytes] | None = spool_file

    @property
    def spooled(self) -> bool:
        return self._file is not None

    @property
    def room(self) -> int:
        return self.capacity - self.size

    def write(self, data: memoryview) -> None:
        if self._file is not None:
            self._file.write(data)
        else:
            self._memory += data
        self.size += len(data)

    def body(self) -> bytearray | IO[bytes]:
        """What to send: the bytes, or the file rewound (botocore reads it and rewinds it on a retry)."""
        if self._file is None:
            return self._memory
        self._file.flush()
        self._file.seek(0)
        return self._file

    def close(self) -> None:
        """Free the memory or the file; idempotent."""
        self._memory = bytearray()
        if self._file is not None:
            self._file.close()
