"""Running the ASGI app under uvicorn: one process, or uvicorn's own multi-process model.

Nothing here supervises: uvicorn's ``Multiprocess`` starts, pings and replaces the processes. Three things
are ours: the listening socket is closed in the parent as soon as it is told to stop, so a new
connection is refused at once instead of waiting in the backlog of a socket no process accepts from any
more; the processes share one Prometheus multiprocess directory, fresh for each run; and request heads are
bounded before they are buffered (``BoundedHttpToolsProtocol``)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.supervisors.multiprocess import Multiprocess

from scp_images.cli._settings import StartupError

METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable, read by each child at import
BACKLOG = 2048  # uvicorn's default


def listen(host: str, port: int, flag: str = "--port") -> socket.socket:
    """The listening socket, bound before anything else happens (``serve`` binds, then opens the
    database): a port another program holds is a StartupError saying so, and nothing was made."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise StartupError(port_problem(exc, host, port, flag)) from exc
    sock.set_inheritable(True)  # the processes of --workers N serve on it
    return sock


def port_problem(exc: OSError, host: str, port: int, flag: str = "--port") -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use by another program; stop it or choose another with {flag}"
    if exc.errno == errno.EACCES:
        return (
            f"not allowed to listen on port {port} (ports below 1024 need root or CAP_NET_BIND_SERVICE); "
            f"choose another with {flag}"
        )
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host!r}: not an address of this machine; check --host"
    return f"cannot listen on {host}:{port} ({exc.strerror}); check --host and {flag}"


MAX_HEADER_LINE = 8 * 1024  # nginx's large_client_header_buffers: one line of 8 KiB ...
MAX_HEAD = 32 * 1024  # ... four of them in all
LINGER_SECONDS = 2.0  # reading (and dropping) what a refused client still sends, so it reads our answer
_TOO_LARGE_TEXT = b"Request header fields too large"
TOO_LARGE = b"".join(
    [
        STATUS_LINE[431],
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: %d\r\n" % len(_TOO_LARGE_TEXT),
        b"connection: close\r\n\r\n",
        _TOO_LARGE_TEXT,
    ]
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with nginx's limits on a request head: a header line over 8 KiB, or a
    head over 32 KiB in all (request line included), is answered 431 and the connection closed, before
    more is read. httptools itself has no limit and collects a header value of any length in memory, so
    the bytes are counted here before they reach it.

    A head is scanned from its first byte to its empty line; the parser gets the head and the rest of the
    chunk separately, so a request without a body ends (``on_message_complete``) before the next pipelined
    head is scanned. After a body the next head is counted from the next chunk on: its share of the chunk
    that ended the body (at most one read, 256 KiB) is not counted; memory stays bounded all the same."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._line_bytes = 0  # of the line not yet ended by LF
        self._started = False  # a non-empty line (the request line) was seen
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: dropped
        while self._in_head and data:
            end = self._head_end(data)
            if end is None:
                self._refuse()
                return
            if end < 0 or end == len(data):
                break
            super().data_received(data[:end])
            data = data[end:]
            if self.parser is None or self.transport.is_closing():
                return
        if data:
            super().data_received(data)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True

    def _head_end(self, data: bytes) -> int | None:
        """Where in ``data`` the head ends (after its empty line), -1 if it goes on, None if over a limit."""
        if not (self._head_bytes or self._line_bytes):
            # The usual case, one whole small head in one read: no line can be longer than the head.
            end = data.find(b"\r\n\r\n", 0, MAX_HEADER_LINE)
            if end > 0:
                self._in_head = False
                return end + 4
        pos = 0
        while True:
            newline = data.find(b"\n", pos)
            if newline < 0:
                self._line_bytes += len(data) - pos
                self._head_bytes += len(data) - pos
                too_long = self._started and self._line_bytes > MAX_HEADER_LINE + 1
                return None if too_long or self._head_bytes > MAX_HEAD else -1
            length = self._line_bytes + newline - pos  # with its CR, if any
            self._head_bytes += newline + 1 - pos
            self._line_bytes = 0
            pos = newline + 1
            if (self._started and length > MAX_HEADER_LINE + 1) or self._head_bytes > MAX_HEAD:
                return None
            if length > 1:
                self._started = True
            elif self._started:  # the empty line: the head is complete
                self._in_head = self._started = False
                self._head_bytes = 0
                return pos
            # else an empty line before the request line, which RFC 9112 lets a server ignore

    def _refuse(self) -> None:
        self._refused = True
        self.logger.warning("Request header fields too large.")
        if self.cycle is not None and not self.cycle.response_complete:
            # A response is under way on this connection: no 431 can be put in its middle; it ends the
            # connection when it is sent.
            self.cycle.keep_alive = False
            self.flow.pause_reading()
            return
        self.transport.write(TOO_LARGE)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        # Closing with unread bytes would reset the connection, and the client might lose the answer.
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def server_options(host: str, port: int, graceful_seconds: float) -> dict[str, Any]:
    """uvicorn's settings for ``serve`` (and for the benchmark's bare app, so both run on one stack): our
    own request log (not uvicorn's), no proxy headers trusted, bounded heads, httptools and uvloop (uvicorn
    picks them when installed, as they are with the package)."""
    return {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "proxy_headers": False,
        "timeout_graceful_shutdown": graceful_seconds,
        # By name: a spawned process unpickles its config before it answers the parent's pings, and a class
        # would import this package (all of the app) then; by name it is imported once the process runs.
        "http": f"{__name__}:BoundedHttpToolsProtocol",
    }


def serve_one(app: Any, sock: socket.socket, **options: Any) -> None:
    """This process serves; on SIGTERM uvicorn closes the socket and finishes in-flight requests."""
    uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])


class _Processes(Multiprocess):
    def handle_term(self) -> None:
        self._stop_listening()
        super().handle_term()

    def handle_int(self) -> None:
        self._stop_listening()
        super().handle_int()

    def _stop_listening(self) -> None:
        # The children close their copies while they finish their requests; once this last copy is
        # closed the port refuses connections.
        for sock in self.sockets:
            sock.close()


def serve_many(factory: str, workers: int, sock: socket.socket, **options: Any) -> None:
    """``workers`` processes on ``sock``, each calling ``factory`` (an import string) to build its app."""
    config = uvicorn.Config(factory, factory=True, workers=workers, **options)
    created = _metrics_dir()
    try:
        _Processes(config, sockets=[sock]).run()
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)


def _metrics_dir() -> Path | None:
    """The directory every process of this run writes its metrics to: the operator's (emptied, as
    prometheus_client requires at start) or a fresh temporary one, removed at exit (returned)."""
    given = os.environ.get(METRICS_DIR)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink()
        return None
    path = Path(tempfile.mkdtemp(prefix="scp-images-metrics-"))
    os.environ[METRICS_DIR] = str(path)
    return path
