"""A driver that runs a sequential parser over a stream however it is cut into chunks.

Formats read front to back (a VMDK's header, descriptor and grain markers; a tar's members) are
written as generators that ask for bytes in order: ``data = yield Read(n)`` receives exactly ``n``
bytes, ``got = yield Skip(n)`` passes ``n`` bytes by (``Pass(n, sink)`` hands them to ``sink`` on the
way), ``size = yield REST`` passes everything up to the end and receives the stream's total length.
A request is answered short only once the stream has ended, so the parser sees the same bytes in the
same pieces for every chunking, and its verdict (the first ``DiskImageRejected`` it raises, or what it
returns) cannot depend on the chunks. Memory is what the parser asks for at once; the driver keeps
nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Generic, TypeVar

from scp_images.domain.errors import DiskImageRejected

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Read:
    size: int


@dataclass(frozen=True, slots=True)
class Skip:
    size: int


@dataclass(frozen=True, slots=True)
class Pass:
    """Hand the next ``size`` bytes to ``sink`` as they arrive (in pieces), without keeping them."""

    size: int
    sink: Callable[[memoryview], None]


class _Rest:
    __slots__ = ()


REST = _Rest()
Step = Read | Skip | Pass | _Rest
Parser = Generator[Step, object, T]


class StreamDriver(Generic[T]):
    """Feeds a ``Parser`` the bytes it asks for; ``finish`` returns what it returned."""

    def __init__(self, parser: Parser[T]) -> None:
        self._parser = parser
        self._buffer = bytearray()
        self._skipped = 0
        self._length = 0
        self._done = False
        self._result: T | None = None
        self._error: DiskImageRejected | None = None
        self._step: Step = REST
        self._advance(None)

    @property
    def length(self) -> int:
        """Bytes fed so far."""
        return self._length

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        self._raise_if_failed()
        view = memoryview(chunk)
        self._length += len(view)
        while view and not self._done:
            step = self._step
            if isinstance(step, Read):
                need = step.size - len(self._buffer)
                self._buffer += view[:need]
                view = view[need:]
                if len(self._buffer) == step.size:
                    self._complete_read()
            elif isinstance(step, Skip | Pass):
                take = min(step.size - self._skipped, len(view))
                if isinstance(step, Pass):
                    self._pass(step, view[:take])
                self._skipped += take
                view = view[take:]
                if self._skipped == step.size:
                    self._complete_skip()
            else:
                return

    def finish(self) -> T:
        """Call once the stream has ended: answers the pending request short, until the parser ends."""
        self._raise_if_failed()
        while not self._done:
            step = self._step
            if isinstance(step, Read):
                self._complete_read()
            elif isinstance(step, Skip | Pass):
                self._complete_skip()
            else:
                self._advance(self._length)
        return self._result  # type: ignore[return-value]

    def _complete_read(self) -> None:
        data = bytes(self._buffer)
        self._buffer.clear()
        self._advance(data)

    def _complete_skip(self) -> None:
        skipped, self._skipped = self._skipped, 0
        self._advance(skipped)

    def _pass(self, step: Pass, piece: memoryview) -> None:
        try:
            step.sink(piece)
        except DiskImageRejected as refusal:
            self._done = True
            self._error = refusal
            raise

    def _advance(self, answer: object) -> None:
        try:
            self._step = self._parser.send(answer)
            # Empty requests are answered at once, so a pending request always needs a byte.
            while isinstance(self._step, Read | Skip | Pass) and self._step.size == 0:
                self._step = self._parser.send(b"" if isinstance(self._step, Read) else 0)
        except StopIteration as stop:
            self._done = True
            self._result = stop.value
        except DiskImageRejected as refusal:
            self._done = True
            self._error = refusal
            raise

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
