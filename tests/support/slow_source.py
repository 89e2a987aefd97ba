"""An HTTPS server on loopback that serves files slowly until told to hurry: imports can be caught mid-way."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.imports.tls import make_ca

CHUNK = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: _SlowServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        data = self.server.files.get(self.path)
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            for offset in range(0, len(data), CHUNK):
                if not self.server.fast.is_set():
                    time.sleep(self.server.delay)
                self.wfile.write(data[offset : offset + CHUNK])
        except (BrokenPipeError, ConnectionResetError):
            pass


class _SlowServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.fast = threading.Event()
        self.delay = 0.05


class SlowSource:
    """``url(name)`` is ``https://localhost:PORT/name``; ``ca_file`` must be trusted (SSL_CERT_FILE)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        ca = make_ca(directory, "localhost")
        self.ca_file = ca.ca_file
        self._server = _SlowServer()
        self._server.socket = ca.server_context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"localhost:{self.port}"

    def add(self, name: str, data: bytes) -> str:
        self._server.files[f"/{name}"] = data
        return f"https://localhost:{self.port}/{name}"

    def remove(self, name: str) -> None:
        self._server.files.pop(f"/{name}", None)

    def hurry(self) -> None:
        self._server.fast.set()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
