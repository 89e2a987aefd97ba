"""Running the ASGI app under uvicorn: one process, or uvicorn's own multi-process model.

Nothing here supervises: uvicorn's ``Multiprocess`` starts, pings and replaces the processes. Two things
are ours: the listening socket is closed in the parent as soon as it is told to stop, so a new
connection is refused at once instead of waiting in the backlog of a socket no process accepts from any
more; and the processes share one Prometheus multiprocess directory, fresh for each run."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
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
