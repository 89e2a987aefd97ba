"""A real HTTP server on loopback for the source tests, and small helpers to read sources."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from scp_images.imports.sources import OpenedSource

STREAM_PIECE = 16 * 1024
ENDLESS_BYTES = 64 * 1024 * 1024  # "endless" bodies stop here, far past any limit used in the tests


@dataclass
class RequestLog:
    """What the server was asked: (Host header, path with query) in arrival order, and every request's
    headers (``headers``, same order) for the tests that check what a client sent along."""

    entries: list[tuple[str, str]] = field(default_factory=list)
    headers: list[list[tuple[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, host: str, path: str, headers: list[tuple[str, str]] | None = None) -> None:
        with self.lock:
            self.entries.append((host, path))
            self.headers.append(list(headers or []))

    def paths(self) -> list[str]:
        with self.lock:
            return [path for _, path in self.entries]

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.headers.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked responses need it
    server: _ImageHTTPServer
    routes: ClassVar[dict[str, str]] = {
        "/files": "_file",
        "/missing": "_missing",
        "/redirect": "_redirect",
        "/chain": "_chain",
        "/big-declared": "_big_declared",
        "/big-chunked": "_big_chunked",
        "/truncated": "_truncated",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.log.add(self.headers.get("Host", ""), self.path, list(self.headers.items()))
        parts = urlsplit(self.path)
        prefix = "/" + parts.path.split("/")[1]
        getattr(self, self.routes.get(prefix, "_missing"))(parts)

    def _send_head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _file(self, parts: Any) -> None:
        body = self.server.files.get(parts.path.removeprefix("/files/"))
        if body is None:
            self._missing(parts)
            return
        self._send_head(200, {"Content-Length": str(len(body)), "Content-Type": "application/octet-stream"})
        self.wfile.write(body)

    def _missing(self, parts: Any) -> None:
        self._send_head(404, {"Content-Length": "0"})

    def _redirect(self, parts: Any) -> None:
        self._send_head(302, {"Location": parse_qs(parts.query)["to"][0], "Content-Length": "0"})

    def _chain(self, parts: Any) -> None:
        """``/chain/N`` answers N redirects in a row, then the small file."""
        left = int(parts.path.removeprefix("/chain/"))
        if left == 0:
            self._file(parts._replace(path="/files/small.qcow2"))
            return
        self._send_head(302, {"Location": f"/chain/{left - 1}", "Content-Length": "0"})

    def _big_declared(self, parts: Any) -> None:
        self._send_head(200, {"Content-Length": str(ENDLESS_BYTES)})
        self._pour(lambda piece: self.wfile.write(piece))

    def _big_chunked(self, parts: Any) -> None:
        self._send_head(200, {"Transfer-Encoding": "chunked"})
        self._pour(lambda piece: self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece)))
        self.wfile.write(b"0\r\n\r\n")

    def _truncated(self, parts: Any) -> None:
        self._send_head(200, {"Content-Length": "100000"})
        self.wfile.write(b"x" * 5000)
        self.wfile.flush()
        self.close_connection = True

    def _pour(self, write: Any) -> None:
        piece = b"\0" * STREAM_PIECE
        for _ in range(ENDLESS_BYTES // STREAM_PIECE):
            write(piece)


class _ImageHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.log = RequestLog()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-body is exactly what the size-limit tests provoke.
        pass


@dataclass
class ImageServer:
    port: int
    files: dict[str, bytes]
    log: RequestLog

    scheme: str = "http"

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


def start_image_server(
    files: dict[str, bytes], tls: ssl.SSLContext | None = None
) -> tuple[ImageServer, _ImageHTTPServer]:
    server = _ImageHTTPServer(files)
    if tls is not None:
        # The handshake runs in accept(); a client refusing the certificate only drops that connection.
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="image-http-server", daemon=True).start()
    scheme = "http" if tls is None else "https"
    return ImageServer(server.server_address[1], files, server.log, scheme), server


def read_all(source: OpenedSource) -> list[bytes]:
    try:
        return list(source.chunks())
    finally:
        source.close()


def assert_chunked(chunks: list[bytes], chunk_size: int) -> None:
    """Every piece but the last is exactly ``chunk_size``; none is empty."""
    assert chunks, "no chunks"
    assert all(len(chunk) == chunk_size for chunk in chunks[:-1])
    assert 0 < len(chunks[-1]) <= chunk_size
