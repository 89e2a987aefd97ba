"""Running the ASGI app under uvicorn: one process, or uvicorn's own multi-process model.

Nothing here supervises: uvicorn's ``Multiprocess`` starts, pings and replaces the processes. Two things
are ours: the listening socket is closed in the parent as soon as it is told to stop, so a new
connection is refused at once instead of waiting in the backlog of a socket no process accepts from any
more; and the processes share one Prometheus multiprocess directory, fresh for each run."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable, read by each child at import


def serve_one(app: Any, **options: Any) -> None:
    """This process serves; on SIGTERM uvicorn closes the socket and finishes in-flight requests."""
    uvicorn.Server(uvicorn.Config(app, **options)).run()


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


def serve_many(factory: str, workers: int, **options: Any) -> None:
    """``workers`` processes, each calling ``factory`` (an import string) to build its own app."""
    config = uvicorn.Config(factory, factory=True, workers=workers, **options)
    created = _metrics_dir()
    try:
        sock = config.bind_socket()
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
