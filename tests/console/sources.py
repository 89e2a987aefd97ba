"""A plain-http import source on loopback for the console tests (allowed only because the test server's
resolver has ``allow_plain_http_for_tests``). A gated file sends its first part in steps, then waits until
the test releases it, so an import can be watched half-way."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PIECE = 1 << 20  # the import reads 1 MiB chunks: each piece completes one
GATE_TIMEOUT = 60.0


@dataclass
class _File:
    data: bytes
    gate: threading.Event | None = None
    split: int = 0
    step_seconds: float = 0.3
    cut: bool = False  # at the gate, hang up instead of sending the rest


@dataclass
class _Files:
    entries: dict[str, _File] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _SourceServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.files.lock:
            entry = self.server.files.entries.get(self.path.lstrip("/"))
        if entry is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(entry.data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._pour(entry)

    def _pour(self, entry: _File) -> None:
        if entry.gate is None:
            self.wfile.write(entry.data)
            return
        for offset in range(0, entry.split, PIECE):
            self.wfile.write(entry.data[offset : min(offset + PIECE, entry.split)])
            self.wfile.flush()
            time.sleep(entry.step_seconds)  # lets the import's heartbeat record each step
        entry.gate.wait(GATE_TIMEOUT)
        if not entry.cut:
            self.wfile.write(entry.data[entry.split :])


class _SourceServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = _Files()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class GatedSource:
    def __init__(self) -> None:
        self._server = _SourceServer()
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="console-source", daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add(self, name: str, data: bytes, *, gated_at: int | None = None) -> str:
        gate = threading.Event() if gated_at is not None else None
        with self._server.files.lock:
            self._server.files.entries[name] = _File(data, gate, gated_at or 0)
        return f"http://{self.host}/{name}"

    def release(self, name: str) -> None:
        gate = self._server.files.entries[name].gate
        assert gate is not None
        gate.set()

    def cut(self, name: str) -> None:
        """The gated file's connection ends at the gate: the import sees a truncated source."""
        entry = self._server.files.entries[name]
        assert entry.gate is not None
        entry.cut = True
        entry.gate.set()

    def stop(self) -> None:
        for entry in self._server.files.entries.values():
            if entry.gate is not None:
                entry.gate.set()
        self._server.shutdown()
        self._server.server_close()
