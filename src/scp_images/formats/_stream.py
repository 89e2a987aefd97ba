"""Reading chosen byte ranges out of a stream in one pass, whatever the chunking.

The VHD, VHDX and VDI inspectors learn where their structures lie from structures read earlier
(a footer names its dynamic header, which names its BAT). A ``RangeReader`` is told which ranges
to collect and calls a step with each one as soon as the stream has passed its last byte. Chunks
are split at those points, so a step always runs at the same stream position (the end of its
range) and may ask for further ranges from there: the verdict cannot depend on where the caller
cut the stream. Only the requested ranges are kept, so memory is what the steps ask for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from scp_images.domain.errors import DiskImageRejected

Step = Callable[[bytes], None]
# Large tables (a BAT, a block map) are read in pieces of this size, so they are never held whole.
PIECE = 64 * 1024


@dataclass
class _Range:
    start: int
    end: int
    what: str
    step: Step
    data: bytearray = field(default_factory=bytearray)


class RangeReader:
    def __init__(self) -> None:
        self.position = 0  # bytes of the stream seen so far
        self._ranges: list[_Range] = []

    def want(self, start: int, length: int, what: str, step: Step) -> None:
        """Call ``step`` with bytes ``[start, start + length)`` once the stream has passed them.

        The caller checks ``ahead`` first: a range the stream has already passed cannot be read."""
        assert start >= self.position and length > 0
        self._ranges.append(_Range(start, start + length, what, step))

    def want_pieces(self, start: int, length: int, what: str, step: Callable[[int, bytes], None]) -> None:
        """Call ``step(offset, piece)`` for each ``PIECE``-sized part of ``[start, start + length)``."""
        size = min(PIECE, length)

        def piece(data: bytes) -> None:
            step(start, data)
            if length > size:
                self.want_pieces(start + size, length - size, what, step)

        self.want(start, size, what, piece)

    def ahead(self, start: int) -> bool:
        return start >= self.position

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            if not self._ranges:
                self.position += len(view)
                return
            stop = min(r.end for r in self._ranges)
            taken = min(len(view), stop - self.position)
            low, high = self.position, self.position + taken
            for wanted in self._ranges:
                first, last = max(wanted.start, low), min(wanted.end, high)
                if first < last:
                    wanted.data += view[first - low : last - low]
            self.position = high
            view = view[taken:]
            if high == stop:
                self._run_completed()

    def _run_completed(self) -> None:
        done = [r for r in self._ranges if r.end == self.position]
        self._ranges = [r for r in self._ranges if r.end != self.position]
        for wanted in done:
            wanted.step(bytes(wanted.data))

    def check_complete(self) -> None:
        """At the end of the stream: every range asked for must have been read, else ``truncated``.

        A stream cannot tell a file cut short from a table pointing past its end, so both are
        ``truncated``, with a detail naming the structure and where it was expected."""
        if not self._ranges:
            return
        size = self.position
        if size == 0:
            raise DiskImageRejected("truncated", "the data is empty")
        wanted = min(self._ranges, key=lambda r: (r.start, r.end))
        raise DiskImageRejected("truncated", past_the_end(f"{wanted.what} at offset {wanted.start}", size))


def past_the_end(what: str, size: int) -> str:
    cause = "the file is cut short, or points outside itself"
    return f"the data ends after {size} bytes, before the end of {what} ({cause})"


class StreamInspector:
    """What the three inspectors share: a ``RangeReader``, the last bytes of the stream, and a refusal
    that sticks (once refused, every later call raises the same refusal)."""

    TAIL = 0  # how many trailing bytes to keep

    def __init__(self) -> None:
        self._reader = RangeReader()
        self._tail = b""
        self._error: DiskImageRejected | None = None

    @property
    def size(self) -> int:
        return self._reader.position

    def feed(self, chunk: bytes) -> None:
        self._raise_if_failed()
        if self.TAIL:
            if len(chunk) >= self.TAIL:
                self._tail = bytes(chunk[-self.TAIL :])
            else:
                self._tail = (self._tail + chunk)[-self.TAIL :]
        self._judge(self._reader.feed, chunk)

    def _judge(self, step: Callable[..., object], *args: object) -> object:
        try:
            return step(*args)
        except DiskImageRejected as refusal:
            self._error = refusal
            raise

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
