"""What the processes of one host share for conversions: slots, temporary space, job directories.

Everything is held with ``flock`` on files in the temporary directory, so every server process
(``--workers``) and worker process on the host counts against the same limits, and a process that dies
(even by SIGKILL) lets go of what it held: the kernel drops its locks with its file descriptors.

    temp_dir/
      host.lock        held briefly while a job directory is made, counted or swept
      slot-0.lock …    one per conversion allowed at once; a conversion holds one for its life
      job-XXXXXXXX/    one per job (mode 0700); its ``.lock`` is held for the job's life and says how
        .lock          many bytes the job reserved; a directory whose lock nobody holds is left over
        …              from a dead process, and ``sweep`` removes it
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from scp_images.domain.errors import DiskImageRejected

JOB_PREFIX = "job-"
JOB_LOCK = ".lock"
HOST_LOCK = "host.lock"


class Slot:
    """One of the host's conversion slots, held until ``release`` (or the end of a ``with``)."""

    def __init__(self, fd: int, index: int) -> None:
        self.index = index
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor drops the flock

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


@dataclass(frozen=True)
class _Job:
    path: Path
    reserved: int
    used: int


class ConversionHost:
    """The host's conversion slots and temporary space under ``temp_dir`` (made 0700 if missing)."""

    def __init__(self, temp_dir: Path, slots: int, temp_max_bytes: int) -> None:
        if slots < 1:
            raise ValueError("at least one conversion slot is needed")
        if temp_max_bytes < 0:
            raise ValueError("the temporary-space ceiling is not negative")
        if not temp_dir.is_absolute() or ":" in str(temp_dir):
            # qemu-img reads a ':' in a file name as a protocol prefix: the paths we give it have none.
            raise ValueError(f"the conversion directory must be an absolute path without ':': {temp_dir}")
        self.temp_dir = temp_dir
        self.slots = slots
        self.temp_max_bytes = temp_max_bytes

    # ------------------------------------------------------------------ slots

    def try_slot(self) -> Slot | None:
        """One free slot, or None when all are held (never waits)."""
        self._ensure_dir()
        for index in range(self.slots):
            fd = _open_lock(self.temp_dir / f"slot-{index}.lock")
            if _try_lock(fd):
                return Slot(fd, index)
            os.close(fd)
        return None

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """``with host.slot() as got:``: ``got`` says whether a slot is held for the block."""
        held = self.try_slot()
        try:
            yield held is not None
        finally:
            if held is not None:
                held.release()

    # ------------------------------------------------------------------ job directories

    @contextmanager
    def workspace(self, need_bytes: int) -> Iterator[Path]:
        """A private job directory for a conversion needing ``need_bytes`` of temporary space (input
        and output), removed on exit whatever happens. Raises ``DiskImageRejected("no_temp_space")``
        before making anything when the ceiling (less what running jobs reserved) or the filesystem's
        free space (less what running jobs will still write) is short of it."""
        path, fd = self._open_job(need_bytes)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)  # while the job's lock is held: sweep keeps off
            os.close(fd)

    def sweep(self) -> int:
        """Remove the job directories of dead processes (their lock not held); the number removed."""
        if not self.temp_dir.is_dir():
            return 0
        removed = 0
        with self._host_lock():
            for path in self._job_dirs():
                fd = _open_job_lock(path)
                if fd is not None and not _try_lock(fd):
                    os.close(fd)  # a live job
                    continue
                shutil.rmtree(path, ignore_errors=True)
                if fd is not None:
                    os.close(fd)
                removed += 1
        return removed

    # ------------------------------------------------------------------ inside

    def _ensure_dir(self) -> None:
        self.temp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    @contextmanager
    def _host_lock(self) -> Iterator[None]:
        self._ensure_dir()
        fd = _open_lock(self.temp_dir / HOST_LOCK)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _job_dirs(self) -> Iterator[Path]:
        with os.scandir(self.temp_dir) as entries:
            found = [
                Path(e.path)
                for e in entries
                if e.name.startswith(JOB_PREFIX) and e.is_dir(follow_symlinks=False)
            ]
        yield from found

    def _live_jobs(self) -> list[_Job]:
        jobs = []
        for path in self._job_dirs():
            fd = _open_job_lock(path)
            if fd is None:
                continue
            try:
                if _try_lock(fd):
                    continue  # dead: sweep's business, not counted
                jobs.append(_Job(path, _read_reserved(path), _disk_use(path)))
            finally:
                os.close(fd)
        return jobs

    def _open_job(self, need_bytes: int) -> tuple[Path, int]:
        if need_bytes < 0:
            raise ValueError("a job needs a non-negative number of bytes")
        with self._host_lock():
            self._check_room(need_bytes, self._live_jobs())
            path = Path(tempfile.mkdtemp(prefix=JOB_PREFIX, dir=self.temp_dir))  # mode 0700
            fd = os.open(
                path / JOB_LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
            )
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new: nobody else can hold it
            os.write(fd, f"{need_bytes}\n".encode())
        return path, fd

    def _check_room(self, need: int, running: list[_Job]) -> None:
        reserved = sum(job.reserved for job in running)
        if need > self.temp_max_bytes - reserved:
            raise DiskImageRejected("no_temp_space", _ceiling_detail(need, self.temp_max_bytes, reserved))
        info = os.statvfs(self.temp_dir)
        free = info.f_bavail * info.f_frsize
        to_come = sum(max(0, job.reserved - job.used) for job in running)
        if need > free - to_come:
            raise DiskImageRejected(
                "no_temp_space",
                f"converting this disk needs about {_gib(need)} of temporary space and the server has "
                f"{_gib(max(0, free - to_come))} free for it now",
            )


def _ceiling_detail(need: int, ceiling: int, reserved: int) -> str:
    text = f"converting this disk needs about {_gib(need)} of temporary space"
    if need > ceiling:
        return f"{text}, more than the {_gib(ceiling)} this server sets aside for conversions"
    return f"{text}, and conversions already running hold {_gib(reserved)} of the {_gib(ceiling)} set aside"


def _gib(size: int) -> str:
    return f"{size / (1 << 30):.2f} GiB"


def _open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def _open_job_lock(job: Path) -> int | None:
    """The job's lock file, or None when there is none (a directory its process left half made, or one
    being removed)."""
    try:
        return os.open(job / JOB_LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            return None
        raise


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_reserved(job: Path) -> int:
    with suppress(OSError, ValueError):
        return max(0, int((job / JOB_LOCK).read_text().split()[0]))
    return 0


def _disk_use(job: Path) -> int:
    """Bytes the job's files occupy (allocated blocks: a sparse output counts what it holds)."""
    total = 0
    with suppress(OSError), os.scandir(job) as entries:
        for entry in entries:
            with suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(info.st_mode):
                    total += info.st_blocks * 512
    return total
