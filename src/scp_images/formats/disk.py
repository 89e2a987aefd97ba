"""What every streaming disk inspector gives back, and the shape they share.

An inspector is fed the bytes in order (any chunking) and keeps only bounded regions of them; ``finish``
is called once the stream has ended and returns a ``DiskInfo`` or raises ``DiskImageRejected`` with a
reason from ``domain.errors.DISK_NEXT_STEPS`` and a detail naming the rule and the offset. The verdict
must not depend on how the stream was cut into chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from scp_images.domain.disk_formats import DiskFormat


@dataclass(frozen=True, slots=True)
class DiskInfo:
    disk_format: DiskFormat
    virtual_size: int
    # For an OVA: where its one disk lies inside the tar (that member's data), and that disk's info.
    member_offset: int | None = None
    member_size: int | None = None
    member_name: str | None = None
    inner: DiskInfo | None = None


class DiskInspector(Protocol):
    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> DiskInfo: ...
