"""One ``qemu-img convert`` into qcow2, run as a contained child process.

``qemu-img`` follows what an image names (other files, protocols, ``json:`` specifications), so it only
ever sees a file that passed our inspectors (``formats/``), and this module adds the process-level walls:

- the input driver is always named (``-f vmdk``), never probed, and must be one of ``SOURCE_DRIVERS``;
- both paths are ours: absolute, in one private directory (mode 0700, ours), without ``:`` (so neither a
  protocol prefix nor ``json:`` can be read into them); anything else is a programming error;
- a clean environment (``child_environment``), no stdin, its own session (so its whole process group can
  be killed), its working directory the job's;
- resource limits set in the child before ``exec``: address space, CPU seconds, file size (the output
  cannot grow past ``output_max_bytes``), no core files, few open files;
- a wall-clock limit and a cancellation check, both ending in SIGKILL to the process group; when the
  child ends, its group is killed too (nothing it started outlives it).

Progress comes from ``-p``: qemu-img writes ``(12.34/100%)`` followed by a carriage return on stdout.
"""

from __future__ import annotations

import ctypes
import os
import re
import resource
import selectors
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from scp_images.domain.disk_formats import QEMU_DRIVER
from scp_images.domain.errors import DiskImageRejected

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

# The input drivers we run (the ``-f`` of each accepted format). Never ``qcow2`` as an input: a qcow2 is
# stored as it is, and qemu's qcow2 driver is the one that opens backing and external data files.
SOURCE_DRIVERS = frozenset(QEMU_DRIVER.values())

# The output: 64 KiB clusters (what ``qcow2_output_ceiling`` assumes), version 3. No backing file and no
# data file are ever named, so the output is self-contained. ``-W`` (out-of-order writes) and ``-m``
# (more coroutines) were measured on a streamOptimized VMDK and gained nothing: decompression is the cost.
OUTPUT_OPTIONS = "compat=1.1,cluster_size=65536"
CLUSTER = 64 * KiB

# The child's whole environment. PATH is fixed (not the server's); LC_ALL=C keeps messages stable.
# MALLOC_ARENA_MAX bounds glibc's per-thread arenas (64 MiB of address space each, up to 8 per CPU), so
# that the address-space limit means the same on a 2-core and a 64-core host.
CHILD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

POLL_SECONDS = 0.2  # how often ``cancelled`` is asked and the wall clock looked at
DRAIN_SECONDS = 2.0  # reading the pipes' last bytes after the child ended
CPU_GRACE_SECONDS = 5  # the hard CPU limit (SIGKILL) this long after the soft one (SIGXCPU)
READ_BYTES = 64 * KiB
STDERR_KEPT = 4 * KiB  # the last bytes of stderr kept for the failure's detail
EXCERPT_CHARS = 300
_PROGRESS = re.compile(rb"\((\d{1,3})(?:\.\d+)?/100%\)")


class ConversionCancelled(Exception):
    """The job was cancelled while ``qemu-img`` ran; its process group was killed."""


class UnsafeConversionCall(ValueError):
    """A programming error: the converter was called with arguments it never runs."""


@dataclass(frozen=True)
class ConvertLimits:
    """The walls around one ``qemu-img convert`` (``output_max_bytes``: see ``qcow2_output_ceiling``)."""

    output_max_bytes: int
    address_space_bytes: int = 2 * GiB
    cpu_seconds: int = 3600
    wall_seconds: float = 3600.0
    open_files: int = 64

    @classmethod
    def for_disk(cls, virtual_size: int, time_limit: float = 3600.0) -> ConvertLimits:
        """The defaults of issue 21 for a disk: output bounded by its ceiling, CPU seconds = time limit."""
        return cls(
            output_max_bytes=qcow2_output_ceiling(virtual_size),
            cpu_seconds=max(1, int(time_limit)),
            wall_seconds=time_limit,
        )


def _clusters(size: int) -> int:
    return -(-size // CLUSTER)


def qcow2_output_ceiling(virtual_size: int) -> int:
    """The largest qcow2 file (64 KiB clusters, 16-bit refcounts) ``qemu-img convert`` can write for a
    disk of ``virtual_size`` bytes, with room to spare.

    Every data cluster allocated (the virtual size rounded up to a cluster), plus the metadata:
    - L2 tables: one 8-byte entry per data cluster, 8192 entries per cluster;
    - the L1 table: one 8-byte entry per L2 table;
    - refcount blocks: a 2-byte count per cluster of the file, 32768 per block, and the refcount table,
      one 8-byte entry per block; counted over data + L1 + L2 + header, then doubled, since qemu grows
      the refcount table by writing a new one (the blocks describing themselves are inside that slack);
    - the header cluster.
    The metadata total is then doubled again, and 2 MiB added: for a driver whose virtual size is
    rounded (VHD's CHS geometry) and for clusters qemu leaves behind. For 2 GiB this is 2 GiB + 3.5 MiB
    (``qemu-img measure`` of a fully allocated disk: + 576 KiB); for 1 TiB, 1 TiB + 387 MiB (measure:
    + 160 MiB). Bounded: about virtual size x 1.0004 + 3 MiB.
    """
    if virtual_size < 0:
        raise ValueError("a virtual size is not negative")
    data = _clusters(virtual_size)
    l2 = -(-data // (CLUSTER // 8))
    l1 = _clusters(8 * l2)
    header = 1
    counted = data + l2 + l1 + header
    refcount_blocks = -(-counted // (CLUSTER // 2))
    refcount_table = _clusters(8 * refcount_blocks)
    metadata = l2 + l1 + header + 2 * (refcount_blocks + refcount_table)
    return (data + 2 * metadata) * CLUSTER + 2 * MiB


def child_environment() -> dict[str, str]:
    return {"PATH": CHILD_PATH, "LC_ALL": "C", "MALLOC_ARENA_MAX": "2"}


def convert_command(qemu_img: str, source: Path, source_driver: str, target: Path) -> list[str]:
    return [
        qemu_img,
        "convert",
        "-p",
        "-f",
        source_driver,
        "-O",
        "qcow2",
        "-o",
        OUTPUT_OPTIONS,
        str(source),
        str(target),
    ]


def convert_to_qcow2(
    qemu_img: str,
    source: Path,
    source_driver: str,
    target: Path,
    limits: ConvertLimits,
    *,
    progress: Callable[[int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> None:
    """Convert ``source`` (read with qemu's ``source_driver``) into the qcow2 ``target``.

    Raises ``DiskImageRejected`` (``conversion_failed``, ``conversion_timeout``) or ``ConversionCancelled``;
    the partial target is removed then. ``progress`` gets whole percents, each at most once, rising.
    """
    check_call(source, source_driver, target)
    argv = convert_command(qemu_img, source, source_driver, target)
    try:
        returncode, stderr = _supervise(argv, source.parent, limits, progress, cancelled)
    except BaseException:
        _remove(target)
        raise
    if returncode != 0:
        problem = _failure(returncode, stderr, source, target, limits)
        _remove(target)
        raise problem
    if not target.is_file():
        raise DiskImageRejected("conversion_failed", "qemu-img ended without writing the converted disk")
    if progress is not None:
        progress(100)


# --------------------------------------------------------------------------- the call's arguments


def check_call(source: Path, source_driver: str, target: Path) -> None:
    """Refuse (``UnsafeConversionCall``) anything but our own paths in one private directory."""
    if source_driver not in SOURCE_DRIVERS:
        raise UnsafeConversionCall(f"qemu-img is never run with the input driver {source_driver!r}")
    for path in (source, target):
        text = str(path)
        if not path.is_absolute() or ":" in text or any(ord(ch) < 0x20 for ch in text):
            raise UnsafeConversionCall(f"not a path the service made: {text!r}")
    if source.parent != target.parent or source == target:
        raise UnsafeConversionCall("the input and the output must be two files of one job directory")
    _check_private_dir(source.parent)
    if not stat.S_ISREG(os.lstat(source).st_mode):
        raise UnsafeConversionCall("the input must be a regular file (not a link)")
    if os.path.lexists(target) and not stat.S_ISREG(os.lstat(target).st_mode):
        raise UnsafeConversionCall("the output must be a regular file (not a link)")


def _check_private_dir(directory: Path) -> None:
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise UnsafeConversionCall("the job directory must be a directory of ours with mode 0700")


# --------------------------------------------------------------------------- the child process


def _rlimits(limits: ConvertLimits) -> list[tuple[int, tuple[int, int]]]:
    """(resource, (soft, hard)) pairs, each no higher than the hard limit we run under (raising a hard
    limit needs privileges, and a failing preexec would look like a conversion failure)."""
    wanted = [
        (resource.RLIMIT_AS, limits.address_space_bytes, limits.address_space_bytes),
        (resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + CPU_GRACE_SECONDS),
        (resource.RLIMIT_FSIZE, limits.output_max_bytes, limits.output_max_bytes),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
    ]
    pairs = []
    for which, soft, hard in wanted:
        current = resource.getrlimit(which)[1]
        if current != resource.RLIM_INFINITY:
            hard = min(hard, current)
        pairs.append((which, (min(soft, hard), hard)))
    return pairs


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up before the fork (None where there is none: not Linux)."""
    try:
        return cast(Callable[..., int], ctypes.CDLL(None, use_errno=True).prctl)
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def _limiter(pairs: Sequence[tuple[int, tuple[int, int]]]) -> Callable[[], None]:
    """The ``preexec_fn``: ``setrlimit`` calls on values computed before the fork, and the parent-death
    signal: the child leads its own session (so a kill reaches its whole group), which also means a
    SIGKILLed server or worker would leave it running unowned; SIGKILL on the death of the thread that
    started it (the runner's, which waits for it) ends it instead."""
    parent = os.getpid()

    def apply() -> None:
        for which, pair in pairs:
            resource.setrlimit(which, pair)
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before the signal was armed
                os._exit(1)

    return apply


def _start(argv: list[str], cwd: Path, limits: ConvertLimits) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=child_environment(),
        close_fds=True,
        start_new_session=True,
        restore_signals=True,  # SIGXFSZ back to its default (Python ignores it)
        preexec_fn=_limiter(_rlimits(limits)),  # only setrlimit, on values made before the fork
    )


def _leader_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the child has ended, without reaping it (``WNOWAIT``): until it is reaped its id still
    names its process group, so the group can be killed safely."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole process group (it leads its own session), then reap the child. Called
    before the child is reaped, so its id still names its group."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class _Output:
    """Reads the child's stdout (progress) and stderr (the last bytes) as they come, bounded."""

    def __init__(self, proc: subprocess.Popen[bytes], progress: Callable[[int], None] | None) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self._selector = selectors.DefaultSelector()
        self._selector.register(proc.stdout, selectors.EVENT_READ, self._on_stdout)
        self._selector.register(proc.stderr, selectors.EVENT_READ, self._on_stderr)
        self._open = 2
        self._pending = b""
        self._percent = -1
        self._progress = progress
        self.stderr = b""

    @property
    def closed(self) -> bool:
        return self._open == 0

    def pump(self, timeout: float) -> None:
        if self.closed:
            time.sleep(timeout)
            return
        for key, _ in self._selector.select(timeout):
            data = os.read(key.fd, READ_BYTES)
            if not data:
                self._selector.unregister(key.fileobj)
                self._open -= 1
                continue
            key.data(data)

    def drain(self, seconds: float) -> None:
        """Read what is left once the group is gone (its last message may still be in the pipe)."""
        end = time.monotonic() + seconds
        while not self.closed and time.monotonic() < end:
            self.pump(0.05)

    def close(self) -> None:
        self._selector.close()

    def _on_stderr(self, data: bytes) -> None:
        self.stderr = (self.stderr + data)[-STDERR_KEPT:]

    def _on_stdout(self, data: bytes) -> None:
        text = self._pending + data
        end = 0
        for match in _PROGRESS.finditer(text):
            end = match.end()
            self._report(min(100, int(match.group(1))))
        self._pending = text[end:][-64:]  # a token cut in two by the pipe; never more

    def _report(self, percent: int) -> None:
        if percent > self._percent:
            self._percent = percent
            if self._progress is not None and percent < 100:  # 100 is said once it has exited 0
                self._progress(percent)


def _supervise(
    argv: list[str],
    cwd: Path,
    limits: ConvertLimits,
    progress: Callable[[int], None] | None,
    cancelled: Callable[[], bool] | None,
) -> tuple[int, bytes]:
    """Run the child to its end: (exit status, the end of its stderr). Kills its group on a timeout,
    a cancellation or any exception here."""
    deadline = time.monotonic() + limits.wall_seconds
    next_check = 0.0
    proc = _start(argv, cwd, limits)
    output = _Output(proc, progress)
    try:
        while True:
            output.pump(POLL_SECONDS)
            if _leader_exited(proc):
                _kill_group(proc)  # whatever it left in its group goes with it; reaps it
                output.drain(DRAIN_SECONDS)
                return proc.returncode, output.stderr
            now = time.monotonic()
            if now >= deadline:
                _kill_group(proc)
                raise DiskImageRejected(
                    "conversion_timeout",
                    f"the conversion did not finish within {limits.wall_seconds:.0f} seconds and was stopped",
                )
            if cancelled is not None and now >= next_check:
                next_check = now + POLL_SECONDS
                if cancelled():
                    _kill_group(proc)
                    raise ConversionCancelled("the conversion was cancelled and its process stopped")
    finally:
        if proc.returncode is None:
            _kill_group(proc)
        output.close()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


# --------------------------------------------------------------------------- the verdict


def _failure(
    returncode: int, stderr: bytes, source: Path, target: Path, limits: ConvertLimits
) -> DiskImageRejected:
    if (
        returncode == -signal.SIGXFSZ
        or b"File too large" in stderr
        or _size(target) >= limits.output_max_bytes
    ):
        return DiskImageRejected(
            "conversion_failed",
            f"the converted disk passed its size limit of {limits.output_max_bytes} bytes "
            "(more than the disk's virtual size allows), so the conversion was stopped",
        )
    if returncode == -signal.SIGXCPU:
        return DiskImageRejected(
            "conversion_timeout",
            f"the conversion used its {limits.cpu_seconds} seconds of processor time and was stopped",
        )
    said = excerpt(stderr, source, target)
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else -returncode
        return DiskImageRejected("conversion_failed", f"qemu-img was stopped by signal {name}: {said}")
    return DiskImageRejected("conversion_failed", f"qemu-img exited with status {returncode}: {said}")


def excerpt(stderr: bytes, source: Path, target: Path) -> str:
    """The end of qemu-img's message, printable ASCII on one line, cut short, our paths named by role
    (the tenant never learns the server's directories)."""
    text = stderr.decode("utf-8", "replace")
    text = text.replace(str(source), "INPUT").replace(str(target), "OUTPUT")
    text = text.replace(str(source.parent), "JOBDIR")
    text = "".join(ch if " " <= ch <= "~" else " " for ch in text)
    text = " ".join(text.split())
    if not text:
        return "no message"
    return text if len(text) <= EXCERPT_CHARS else "..." + text[-(EXCERPT_CHARS - 3) :]


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _remove(path: Path) -> None:
    with suppress(FileNotFoundError):
        os.unlink(path)
