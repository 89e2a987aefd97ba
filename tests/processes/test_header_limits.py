"""Request heads are bounded before they are buffered, by the real ``scp-images serve``: a header line over
8 KiB or a head over 32 KiB is answered 431 and the connection closed (nginx's defaults). Before, httptools
collected a header line of any length in memory: four connections sending 64 MiB lines added 256 MiB."""

from __future__ import annotations

import select
import socket
import weakref
from concurrent.futures import ThreadPoolExecutor

import pytest

from scp_images.config import Settings
from tests.processes.conftest import StartServers
from tests.support.process import ServerProcess

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
KIB = 1024


@pytest.fixture
def server(settings: Settings, start_servers: StartServers) -> ServerProcess:
    (started,) = start_servers(settings.model_copy(update={"run_import_jobs": False}), 1)
    return started


def _connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def _head(*headers: str, path: str = "/healthz") -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


# Bytes read past one response (pipelined answers can arrive in one recv), kept for the next read.
_LEFTOVER: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()


def _response(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of one response (Content-Length framed), read from ``sock``."""
    data = _LEFTOVER.pop(sock, b"")
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response; got {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        int(v) for n, _, v in (line.partition(":") for line in lines[1:]) if n.lower() == "content-length"
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the body"
        body += chunk
    if len(body) > length:
        _LEFTOVER[sock] = body[length:]
    return int(lines[0].split()[1]), body[:length]


def _closed(sock: socket.socket) -> bool:
    return _LEFTOVER.pop(sock, b"") == b"" and sock.recv(1) == b""


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@SQLITE_ONLY
def test_a_9_kib_header_line_is_431_and_the_connection_closes(server: ServerProcess) -> None:
    with _connect(server) as sock:
        sock.sendall(_head("X-Long: " + "a" * 9 * KIB))
        status, body = _response(sock)
        assert (status, body) == (431, b"Request header fields too large")
        assert _closed(sock)


@SQLITE_ONLY
def test_a_line_over_8_kib_is_answered_before_it_ends(server: ServerProcess) -> None:
    """The server does not wait for the end of the line (or of the head) to refuse it."""
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"a" * 9 * KIB)
        assert _response(sock)[0] == 431
        assert _closed(sock)


@SQLITE_ONLY
def test_40_kib_of_small_header_lines_is_431(server: ServerProcess) -> None:
    with _connect(server) as sock:
        sock.sendall(_head(*(f"X-Small-{n}: {'b' * 500}" for n in range(80))))
        assert _response(sock)[0] == 431
        assert _closed(sock)


@SQLITE_ONLY
def test_7_kib_lines_are_served_and_keep_alive_goes_on(server: ServerProcess) -> None:
    with _connect(server) as sock:
        sock.sendall(_head(*(f"X-Big-{n}: {'c' * 7 * KIB}" for n in range(3))))
        assert _response(sock)[0] == 200
        sock.sendall(_head())
        assert _response(sock)[0] == 200
        sock.sendall(_head("X-Big: " + "d" * 7 * KIB) + _head())  # pipelined: each head is counted alone
        assert [_response(sock)[0], _response(sock)[0]] == [200, 200]


def _send_a_64_mib_line(server: ServerProcess) -> tuple[int, int]:
    """Send a 64 MiB header line in 64 KiB chunks until the server answers; (status, bytes sent)."""
    chunk = b"e" * 64 * KIB
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: ")
        sent = 0
        try:
            while sent < 64 * KIB * KIB and not select.select([sock], [], [], 0)[0]:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return _response(sock)[0], sent


@SQLITE_ONLY
def test_64_mib_header_lines_on_4_connections_are_431_and_cost_no_memory(server: ServerProcess) -> None:
    pid = server.proc.pid
    with _connect(server) as sock:  # a first request, so that what serving costs anyway is counted before
        sock.sendall(_head())
        assert _response(sock)[0] == 200
    before = _rss_kib(pid)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: _send_a_64_mib_line(server), range(4)))
    assert [status for status, _ in answers] == [431] * 4
    assert all(sent < 64 * KIB * KIB for _, sent in answers), answers  # answered before the line ended
    grown = _rss_kib(pid) - before
    assert grown < 4 * KIB, f"RSS grew by {grown} KiB"
    with _connect(server) as sock:
        sock.sendall(_head())
        assert _response(sock)[0] == 200
