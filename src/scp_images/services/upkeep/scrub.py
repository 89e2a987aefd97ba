"""The integrity scrub: re-read an active image's stored bytes at a bounded rate and compare their size,
md5 and sha512 with its row.

Outcomes: ``fine``; ``corrupt`` (the bytes differ) and ``missing`` (the store answered that nothing is
under the key) set the image's data flag, which refuses its downloads; ``unreadable`` (the store could not
be asked: an outage, a vanished mount point, a 5xx) changes nothing and is retried later, so an outage is
never taken for lost data. A flag is cleared only by a clean check of the same key. ``gone``: the image was
deleted or got other bytes while it was read, so what was read says nothing about it.

``Scrubber.run`` is the operator's one-shot pass (``scp-images admin scrub``); ``ScrubWorker`` runs cycles
continuously in ``scp-images worker``, claiming each image like a job (``store/sql/scrub.py``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import ImageNotFound, InvalidImageStatus
from scp_images.domain.image import DataFlag, Image
from scp_images.services import audit
from scp_images.services.audit import AuditContext
from scp_images.services.clock import Clock, system_clock
from scp_images.services.upkeep.recovery import Orphan, Recovery
from scp_images.store.blob.base import BlobNotFound, BlobStore, BlobStoreUnavailable
from scp_images.store.sql import images as image_store
from scp_images.store.sql import scrub as scrub_store
from scp_images.store.sql.database import Database

log = logging.getLogger("scp_images.scrub")

MiB = 1 << 20


class Outcome(StrEnum):
    FINE = "fine"
    CORRUPT = "corrupt"
    MISSING = "missing"
    UNREADABLE = "unreadable"
    GONE = "gone"


_FLAGS = {Outcome.CORRUPT: DataFlag.CORRUPT, Outcome.MISSING: DataFlag.MISSING}


@dataclass(frozen=True, slots=True)
class Finding:
    image_id: str
    blob_key: str
    outcome: Outcome
    detail: str = ""
    bytes_read: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"image_id": self.image_id, "blob_key": self.blob_key, "detail": self.detail}


class ScrubObserver(Protocol):
    def image_checked(self, outcome: str, bytes_read: int) -> None: ...

    def image_flagged(self, flag: str) -> None: ...


class NoScrubObserver:
    def image_checked(self, outcome: str, bytes_read: int) -> None:
        return None

    def image_flagged(self, flag: str) -> None:
        return None


class Pacer:
    """Holds reads to ``rate`` bytes per second on average (None: unbounded); a set ``stop`` ends a wait."""

    def __init__(
        self,
        rate: float | None,
        stop: threading.Event | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("the scrub rate must be above 0")
        self.rate = rate
        self._stop = stop or threading.Event()
        self._monotonic = monotonic
        self._started = monotonic()
        self._taken = 0

    @property
    def stopping(self) -> threading.Event:
        return self._stop

    @property
    def chunk_size(self) -> int:
        """About a quarter second of reading per chunk, between 64 KiB and 1 MiB."""
        if self.rate is None:
            return MiB
        return max(64 * 1024, min(MiB, int(self.rate / 4)))

    def take(self, size: int) -> None:
        if self.rate is None:
            return
        self._taken += size
        ahead = self._started + self._taken / self.rate - self._monotonic()
        if ahead > 0:
            self._stop.wait(ahead)


class ScrubStopped(Exception):
    """The worker is shutting down in the middle of a read."""


@dataclass
class ScrubReport:
    checked: int = 0
    fine: int = 0
    corrupt: list[Finding] = field(default_factory=list)
    missing: list[Finding] = field(default_factory=list)
    unreadable: list[Finding] = field(default_factory=list)
    orphans: list[Orphan] | None = None  # None: not looked for (a single image was checked)

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.missing or self.unreadable or self.orphans)

    def as_dict(self) -> dict[str, object]:
        orphans = self.orphans or []
        return {
            "ok": self.ok,
            "checked": self.checked,
            "fine": self.fine,
            "corrupt": [f.as_dict() for f in self.corrupt],
            "missing": [f.as_dict() for f in self.missing],
            "unreadable": [f.as_dict() for f in self.unreadable],
            "orphans": {
                "looked": self.orphans is not None,
                "rows_without_bytes": [f.image_id for f in self.missing],
                "bytes_without_rows": [o.as_dict() for o in orphans],
            },
        }

    def add(self, finding: Finding) -> None:
        if finding.outcome is Outcome.GONE:
            return
        self.checked += 1
        if finding.outcome is Outcome.FINE:
            self.fine += 1
        else:
            getattr(self, finding.outcome.value).append(finding)


class Scrubber:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        recovery: Recovery,
        *,
        clock: Clock = system_clock,
        observer: ScrubObserver | None = None,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._recovery = recovery
        self._clock = clock
        self.observer: ScrubObserver = observer or NoScrubObserver()
        self._proven_until = 0.0

    # --- one image ---------------------------------------------------------------------------

    def check(
        self,
        image: Image,
        pacer: Pacer,
        beat: Callable[[], None] | None = None,
        actor: AuditContext | None = None,
    ) -> Finding:
        """Read and compare one image, then flag or clear it (conditional on the key read); ``actor`` is
        who the audit trail names for a flag set or cleared (the operator when None)."""
        key = image.blob_key
        assert key is not None
        finding = self._read(image, key, pacer, beat or (lambda: None))
        finding = self._settle(image, finding, actor or audit.operator())
        self.observer.image_checked(finding.outcome.value, finding.bytes_read)
        return finding

    def _read(self, image: Image, key: str, pacer: Pacer, beat: Callable[[], None]) -> Finding:
        md5, sha512, size = hashlib.md5(usedforsecurity=False), hashlib.sha512(), 0
        try:
            for chunk in self._blobs.read(key, chunk_size=pacer.chunk_size):
                md5.update(chunk)
                sha512.update(chunk)
                size += len(chunk)
                pacer.take(len(chunk))
                beat()
        except BlobNotFound:
            return self._absent(image, key, size)
        except BlobStoreUnavailable as exc:
            return Finding(image.id, key, Outcome.UNREADABLE, str(exc), size)
        problems = _differences(image, size, md5.hexdigest(), sha512.hexdigest())
        outcome = Outcome.CORRUPT if problems else Outcome.FINE
        return Finding(image.id, key, outcome, "; ".join(problems), size)

    def _absent(self, image: Image, key: str, size: int) -> Finding:
        """No blob under the key: lost data only if the store answers and is demonstrably the right one.
        An unmounted volume looks like missing files, and the filesystem store even makes its directory
        again when a process starts, so a store holding none of the images' data is not believed: flagging
        every image would refuse every download for what is a mount or configuration problem."""
        try:
            self._blobs.check()
        except BlobStoreUnavailable as exc:
            return Finding(image.id, key, Outcome.UNREADABLE, str(exc), size)
        if not self._holds_image_data():
            detail = "the image store holds no data of any image: is it unmounted or misconfigured?"
            return Finding(image.id, key, Outcome.UNREADABLE, detail, size)
        return Finding(image.id, key, Outcome.MISSING, "no data under the image's key", size)

    def _holds_image_data(self) -> bool:
        """Whether some stored blob is an image's current data; remembered for a minute once proven."""
        if time.monotonic() < self._proven_until:
            return True
        try:
            for blob in self._blobs.blobs():
                with self._db.read() as conn:
                    if image_store.blob_key_owned(conn, blob.key):
                        self._proven_until = time.monotonic() + 60.0
                        return True
        except BlobStoreUnavailable:
            return False
        return False

    def _settle(self, image: Image, finding: Finding, actor: AuditContext) -> Finding:
        flag = _FLAGS.get(finding.outcome)
        now = self._clock()
        with self._db.transaction() as conn:
            if flag is not None and not scrub_store.set_flag(conn, image.id, finding.blob_key, flag, now):
                return _gone(finding)
            cleared = (
                finding.outcome is Outcome.FINE
                and image.data_flag is not None
                and scrub_store.clear_flag(conn, image.id, finding.blob_key)
            )
            # A flag that changes is a change of the image's state: recorded with it, or not made at all.
            if flag is not None and image.data_flag is not flag:
                detail = f"{flag.value}: {finding.detail}"
                audit.record_change(
                    conn,
                    actor,
                    self._clock(),
                    AuditAction.DATA_FLAG,
                    account_id=image.owner,
                    image_id=image.id,
                    detail=detail,
                )
            elif cleared:
                audit.record_change(
                    conn,
                    actor,
                    self._clock(),
                    AuditAction.DATA_CLEAR,
                    account_id=image.owner,
                    image_id=image.id,
                )
        if cleared:
            assert image.data_flag is not None
            log.warning(
                "image %s: its data checks clean again; the %s flag is cleared",
                image.id,
                image.data_flag.value,
                extra={"image_id": image.id, "blob_key": finding.blob_key},
            )
        self._log(image, finding, flag)
        return finding

    def _log(self, image: Image, finding: Finding, flag: DataFlag | None) -> None:
        extra = {"image_id": image.id, "blob_key": finding.blob_key, "outcome": finding.outcome.value}
        if flag is not None:
            if image.data_flag is not flag:
                self.observer.image_flagged(flag.value)
            log.error("image %s is %s: %s", image.id, flag.value, finding.detail, extra=extra)
        elif finding.outcome is Outcome.UNREADABLE:
            log.warning(
                "image %s could not be read; it is checked again later: %s",
                image.id,
                finding.detail,
                extra=extra,
            )

    # --- the operator's pass -----------------------------------------------------------------

    def run(
        self,
        *,
        image_id: str | None = None,
        rate: float | None = None,
        retries: int = 2,
        retry_wait: float = 2.0,
    ) -> ScrubReport:
        """Check every active image (or one), retry the unreadable ones, then look for orphans."""
        with self._db.read() as conn:
            todo = scrub_store.checkable_images(conn, image_id)
            if image_id is not None and not todo:
                image = image_store.get_image(conn, image_id)
                if image is None:
                    raise ImageNotFound(image_id=image_id)
                raise InvalidImageStatus(image_id=image_id, status=image.status.value, expected="active")
        pacer = Pacer(rate)
        report = ScrubReport()
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(retry_wait * attempt)
                todo = self._fresh([f.image_id for f in report.unreadable])
                report.checked -= len(report.unreadable)
                report.unreadable = []
            for image in todo:
                report.add(self.check(image, pacer))
            if not report.unreadable:
                break
        if image_id is None:
            report.orphans = self._orphans()
        return report

    def _fresh(self, image_ids: list[str]) -> list[Image]:
        with self._db.read() as conn:
            found = [scrub_store.checkable_images(conn, image_id) for image_id in image_ids]
        return [images[0] for images in found if images]

    def _orphans(self) -> list[Orphan] | None:
        try:
            return list(self._recovery.orphans())
        except BlobStoreUnavailable as exc:
            log.warning("the orphan search could not list the image store: %s", exc)
            return None


def _differences(image: Image, size: int, md5: str, sha512: str) -> list[str]:
    problems = []
    if image.size is not None and size != image.size:
        problems.append(f"{size} bytes stored, the image has {image.size}")
    if image.checksum is not None and md5 != image.checksum:
        problems.append(f"md5 {md5} differs from the checksum {image.checksum}")
    if image.os_hash_algo == "sha512" and image.os_hash_value is not None and sha512 != image.os_hash_value:
        problems.append("sha512 differs from os_hash_value")
    return problems


def _gone(finding: Finding) -> Finding:
    return Finding(finding.image_id, finding.blob_key, Outcome.GONE, "deleted or replaced while read")


# --- continuous, in the worker -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScrubTimings:
    rate: float  # bytes per second
    cycle_seconds: float  # a new cycle begins at most this often
    claim_seconds: float = 60.0  # a claim lives this long unless renewed while reading
    retry_seconds: float = 60.0  # an unreadable image waits this long before it is tried again
    idle_seconds: float = 5.0  # nothing due: look again after this long


class ScrubWorker:
    """Checks due images one at a time; when none is left and the cycle is old enough, begins the next."""

    def __init__(
        self,
        scrubber: Scrubber,
        db: Database,
        timings: ScrubTimings,
        worker_id: str,
        *,
        clock: Clock = system_clock,
        skip_locked: bool = False,
    ) -> None:
        self._scrubber = scrubber
        self._db = db
        self._timings = timings
        self.worker_id = worker_id
        self._clock = clock
        self._skip_locked = skip_locked

    def run(self, stop: threading.Event) -> None:
        pacer = Pacer(self._timings.rate, stop)
        while not stop.is_set():
            try:
                worked = self.step(pacer) is not None
            except ScrubStopped:
                return
            except Exception:  # an outage of the database must not end the scrub for good
                log.exception("the integrity scrub failed; trying again")
                worked = False
            if not worked:
                stop.wait(self._timings.idle_seconds)

    def step(self, pacer: Pacer) -> tuple[int, Finding] | None:
        """Check one due image (the cycle and what was found), or begin the next cycle when it is time
        (None: nothing was checked)."""
        image, cycle = self._claim()
        if image is None:
            self._maybe_advance(cycle)
            return None
        try:
            beat = self._beater(image.id, pacer)
            finding = self._scrubber.check(image, pacer, beat, audit.worker(self.worker_id))
        except BaseException:
            with self._db.transaction() as conn:  # hand it back at once, for another worker
                scrub_store.retry_after(conn, image.id, self.worker_id, self._clock())
            raise
        now = self._clock()
        with self._db.transaction() as conn:
            if finding.outcome is Outcome.UNREADABLE:
                when = now + timedelta(seconds=self._timings.retry_seconds)
                scrub_store.retry_after(conn, image.id, self.worker_id, when)
            else:
                scrub_store.finish(conn, image.id, self.worker_id, cycle, now)
        return cycle, finding

    def _claim(self) -> tuple[Image | None, int]:
        now = self._clock()
        until = now + timedelta(seconds=self._timings.claim_seconds)
        with self._db.transaction() as conn:
            cycle, _ = scrub_store.current_cycle(conn)
            image = scrub_store.claim_next(
                conn, cycle, self.worker_id, now, until, skip_locked=self._skip_locked
            )
        return image, cycle

    def _beater(self, image_id: str, pacer: Pacer) -> Callable[[], None]:
        """Renews the claim a few times per claim lifetime while the image is read."""
        every = self._timings.claim_seconds / 3
        last = [time.monotonic()]
        stopping = pacer.stopping

        def beat() -> None:
            if stopping.is_set():
                raise ScrubStopped
            if time.monotonic() - last[0] < every:
                return
            last[0] = time.monotonic()
            until = self._clock() + timedelta(seconds=self._timings.claim_seconds)
            with self._db.transaction() as conn:
                scrub_store.renew(conn, image_id, self.worker_id, until)

        return beat

    def _maybe_advance(self, cycle: int) -> None:
        now = self._clock()
        with self._db.transaction() as conn:
            if scrub_store.busy(conn, cycle, now):
                return
            started_before = now - timedelta(seconds=self._timings.cycle_seconds)
            if scrub_store.advance(conn, cycle, now, started_before):
                log.info(
                    "integrity scrub cycle %d is complete; cycle %d begins",
                    cycle,
                    cycle + 1,
                    extra={"cycle": cycle + 1},
                )
