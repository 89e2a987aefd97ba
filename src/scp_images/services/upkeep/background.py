"""The background work of a server or worker process: repair at start-up, then run import jobs, and sweep
orphans and audit records past their retention again every so often. ``BackgroundThread`` runs it inside
the server (the embedded default); ``scp-images worker`` runs it in the foreground."""

from __future__ import annotations

import logging
import threading
import time

from scp_images.services.audit import AuditTrail
from scp_images.services.upkeep.import_jobs import ImportRunner
from scp_images.services.upkeep.recovery import Recovery
from scp_images.services.upkeep.scrub import ScrubWorker

log = logging.getLogger("scp_images.services.background")  # the logger's name from before the rooms


class BackgroundWork:
    def __init__(
        self,
        runner: ImportRunner,
        recovery: Recovery,
        *,
        sweep_every_seconds: float,
        audit: AuditTrail | None = None,
        scrub: ScrubWorker | None = None,
    ) -> None:
        self.runner = runner
        self._recovery = recovery
        self._audit = audit
        self._sweep_every = sweep_every_seconds
        self.scrub = scrub

    def run(self, stop: threading.Event) -> None:
        # The scrub reads for hours at its low rate, so it has a thread of its own: imports never wait.
        scrub = None
        if self.scrub is not None:
            scrub = threading.Thread(target=self.scrub.run, args=(stop,), name="scrub", daemon=True)
            scrub.start()
        next_repair = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_repair:
                self._repair()
                next_repair = time.monotonic() + self._sweep_every
            self.runner.run_or_wait()
        if scrub is not None:
            scrub.join(timeout=30)

    def _repair(self) -> None:
        try:
            self._recovery.run()
        except Exception:  # a store or database outage must not stop the import jobs
            log.exception("recovery of abandoned writes and orphans failed")
        if self._audit is None:
            return
        try:  # the retention sweep: several processes may run it at once, deleting is idempotent
            self._audit.sweep(self.runner.worker_id)
        except Exception:
            log.exception("the audit retention sweep failed")

    def request_stop(self, stop: threading.Event) -> None:
        stop.set()
        self.runner.stopping.set()
        self.runner.wake.set()


class BackgroundThread:
    """Runs ``BackgroundWork`` on a daemon thread inside the server process."""

    def __init__(self, work: BackgroundWork) -> None:
        self.work = work
        self._stop = threading.Event()
        self._thread = threading.Thread(target=work.run, args=(self._stop,), name="background", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.work.request_stop(self._stop)
        self._thread.join(timeout=30)
