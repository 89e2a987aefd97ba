"""A small reverse proxy on loopback that records what clients send to the server behind it.

Put in front of SeaweedFS, it is the object store's address "as clients reach it": the service presigns
download redirects for it, and a test reads back every request's method, target and headers to see what a
client forwarded. The Host header is passed on unchanged (SigV4 signs it), bodies are streamed both ways.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"})
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Seen:
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]  # lower-cased names

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


class RecordingProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname and parts.port
        self._upstream = (parts.hostname, parts.port)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def requests_for(self, path_end: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.path.endswith(path_end)]

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                headers = {name.lower(): value for name, value in self.headers.items()}
                proxy._record(Seen(self.command, self.path, headers))
                length = int(headers.get("content-length", "0") or 0)
                body = self.rfile.read(length) if length else None
                upstream = http.client.HTTPConnection(*proxy._upstream, timeout=60)
                try:
                    upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for name, value in self.headers.items():
                        if name.lower() not in _HOP_BY_HOP:
                            upstream.putheader(name, value)
                    upstream.endheaders(body)
                    self._relay(upstream.getresponse())
                finally:
                    upstream.close()

            def _relay(self, answer: http.client.HTTPResponse) -> None:
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                if answer.getheader("content-length") is None:
                    self.close_connection = True
                self.end_headers()
                while self.command != "HEAD" and (chunk := answer.read(_CHUNK)):
                    self.wfile.write(chunk)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@contextmanager
def recording_proxy(upstream: str) -> Iterator[RecordingProxy]:
    proxy = RecordingProxy(upstream)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
