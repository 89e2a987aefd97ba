"""A VMDK uploaded and converted by the service, against the same steps done by hand, in one run.

    python bench/convert.py [--size-mib 2048] [--data-mib N] [--workdir DIR] [--by-hand-only]

Makes a streamOptimized VMDK of ``--size-mib`` virtual size (default 2 GiB) holding ``--data-mib`` of
random data (default half the size: every other MiB), then:

* **by hand**: copy the file (receiving it), ``qemu-img convert -f vmdk -O qcow2`` it, md5 and sha512 of
  the output in one pass, copy the output (storing it); each step timed, qemu-img's peak RSS sampled
  from /proc (a run shorter than a sample reads 0);
* **the service** (skipped with ``--by-hand-only``): ``scp-images serve`` on a fresh data dir (SQLite,
  filesystem blobs), the VMDK uploaded through the SCP upload extension with the SDK
  (``images.create`` + ``images.upload``, ``PUT /v2/images/{id}/file``), then ``GET /v1/images/{id}`` and
  ``GET /v1/images/{id}/import`` polled until the image is ``active``. While it runs, a sampler reads
  ``/proc`` every 0.1 s: the peak RSS of each process of the server's tree (qemu-img apart) and the
  disk space under the data dir and the server's temporary dir.

Figures: ``by_hand`` (seconds per step), ``service`` (upload start to active, the upload's own share,
the phases seen), ``ratio`` service / by hand (goal <= 1.3), ``server_rss`` (goal < 300 MiB, qemu-img's
peak reported apart), ``temp_disk`` (peak extra disk use, goal <= input + output).
All files live in a temporary directory removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import Credentials, MiB, Report, ratio, run_main, running_server, verdict

GOAL_RATIO = 1.3
GOAL_SERVER_RSS_MIB = 300
SAMPLE_SECONDS = 0.1
NO_ENV_STORES = {"SCP_IMAGES_DATABASE_URL": "", "SCP_IMAGES_BLOB_URL": ""}  # SQLite and files in the data dir
READ_CHUNK = MiB


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


# --------------------------------------------------------------------------- the source disk


def make_vmdk(workdir: Path, size: int, data: int) -> Path:
    """A streamOptimized VMDK of ``size`` virtual bytes whose ``data`` bytes of random data lie in
    every other MiB (all of them when ``data`` is the size)."""
    raw, vmdk = workdir / "source.raw", workdir / "source.vmdk"
    blocks = size // MiB
    stride = max(1, blocks // max(1, data // MiB))
    written = 0
    with open(raw, "wb") as out:
        out.truncate(size)
        for block in range(0, blocks, stride):
            if written >= data:
                break
            out.seek(block * MiB)
            out.write(os.urandom(MiB))
            written += MiB
    subprocess.run(
        [
            "qemu-img",
            "convert",
            "-f",
            "raw",
            "-O",
            "vmdk",
            "-o",
            "subformat=streamOptimized",
            str(raw),
            str(vmdk),
        ],
        check=True,
    )
    raw.unlink()
    os.sync()
    return vmdk


# --------------------------------------------------------------------------- by hand


@dataclass
class ByHand:
    steps: dict[str, float] = field(default_factory=dict)
    qemu_rss_kib: int = 0
    output_size: int = 0
    md5: str = ""

    @property
    def seconds(self) -> float:
        return sum(self.steps.values())


def run_qemu_img(args: list[str]) -> int:
    """Run qemu-img; its peak RSS in KiB, sampled from /proc (``ru_maxrss`` would count the Python
    process it was forked from: Linux carries the high-water mark across ``exec``)."""
    proc = subprocess.Popen(["qemu-img", *args])
    with sampling(proc.pid, (), 0) as peaks:
        proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"qemu-img {' '.join(args)} exited {proc.returncode}")
    return max(peaks.server_kib.values(), default=0) + peaks.qemu_kib


def hash_both(path: Path) -> tuple[str, str]:
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    with open(path, "rb") as source:
        while chunk := source.read(READ_CHUNK):
            md5.update(chunk)
            sha512.update(chunk)
    return md5.hexdigest(), sha512.hexdigest()


def by_hand(source: Path, workdir: Path) -> ByHand:
    """The steps a person runs, each timed: receive (copy), convert, hash, store (copy)."""
    work = workdir / "by-hand"
    work.mkdir()
    received, converted, stored = work / "received.vmdk", work / "converted.qcow2", work / "stored.qcow2"
    result = ByHand()
    result.steps["copy_input"], _ = timed(lambda: shutil.copyfile(source, received))
    convert = ["convert", "-f", "vmdk", "-O", "qcow2", str(received), str(converted)]
    result.steps["qemu_img_convert"], result.qemu_rss_kib = timed(lambda: run_qemu_img(convert))
    result.steps["md5_sha512"], (result.md5, _) = timed(lambda: hash_both(converted))
    result.steps["copy_output"], _ = timed(lambda: shutil.copyfile(converted, stored))
    result.output_size = converted.stat().st_size
    shutil.rmtree(work)
    return result


# --------------------------------------------------------------------------- sampling /proc


def _proc_tree(root: int) -> dict[int, str]:
    """pid -> command name of ``root`` and its live descendants."""
    parent: dict[int, int] = {}
    name: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        head, _, rest = text.rpartition(")")
        pid = int(stat.parent.name)
        parent[pid] = int(rest.split()[1])
        name[pid] = head.split("(", 1)[1]
    tree = {}
    for pid in name:
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parent:
            ancestor = parent[ancestor]
        if ancestor == root:
            tree[pid] = name[pid]
    return tree


def _peak_rss_kib(pid: int) -> int:
    """VmHWM: the process's peak resident set so far (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


_DATABASE_FILES = (".db", ".db-wal", ".db-shm", ".db-journal")


def disk_use(*roots: Path) -> int:
    """Bytes allocated (blocks, so sparse files count what they hold) under ``roots``; a file with several
    names (a hard link: the original linked into a job directory, the output linked as the blob) once."""
    total, seen = 0, set()
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                if name.endswith(_DATABASE_FILES):
                    continue  # the service's database is no conversion space (its WAL grows as jobs beat)
                try:
                    info = os.lstat(os.path.join(folder, name))
                except OSError:
                    continue
                if (info.st_dev, info.st_ino) not in seen:
                    seen.add((info.st_dev, info.st_ino))
                    total += info.st_blocks * 512
    return total


@dataclass
class Peaks:
    server_kib: dict[int, int] = field(default_factory=dict)  # pid -> peak (every process but qemu-img)
    qemu_kib: int = 0
    disk_bytes: int = 0


@contextmanager
def sampling(root: int, roots: tuple[Path, ...], baseline: int) -> Iterator[Peaks]:
    """Sample the server's process tree and disk use every ``SAMPLE_SECONDS`` while the block runs."""
    peaks, stop = Peaks(), threading.Event()

    def sample() -> None:
        for pid, name in _proc_tree(root).items():
            rss = _peak_rss_kib(pid)
            if name == "qemu-img":
                peaks.qemu_kib = max(peaks.qemu_kib, rss)
            else:
                peaks.server_kib[pid] = max(peaks.server_kib.get(pid, 0), rss)
        peaks.disk_bytes = max(peaks.disk_bytes, disk_use(*roots) - baseline)

    def loop() -> None:
        while not stop.wait(SAMPLE_SECONDS):
            sample()

    thread = threading.Thread(target=loop, name="sampler", daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        stop.set()
        thread.join()
        sample()


# --------------------------------------------------------------------------- the service


@dataclass
class ServiceRun:
    seconds: float
    upload_seconds: float
    phases: dict[str, float]  # phase -> seconds from the upload's start when first seen
    size: int
    checksum: str
    peaks: Peaks


def upload_and_wait(base_url: str, creds: Credentials, source: Path, timeout: float) -> ServiceRun:
    from scp_images.client import Client, ImportStatus

    phases: dict[str, float] = {}
    with Client(
        base_url, creds.access_key, creds.secret_key, account_id=creds.account_id, timeout=600
    ) as client:
        start = time.perf_counter()

        def seen(record: ImportStatus) -> None:
            phase = str(record.raw.get("phase") or record.status)
            phases.setdefault(phase, time.perf_counter() - start)

        image = client.images.create("bench-convert", "ubuntu")
        client.images.upload(image.id, source)
        uploaded = time.perf_counter() - start
        done = client.images.wait(image.id, "active", timeout=timeout, interval=0.1, on_progress=seen)
        seconds = time.perf_counter() - start
    return ServiceRun(seconds, uploaded, phases, int(done.size or 0), str(done.checksum or ""), Peaks())


def prepare_data_dir(data_dir: Path) -> Credentials:
    """A data dir with one account and its key, made before the server starts."""
    from scp_images.app import build_components
    from scp_images.config import Settings

    parts = build_components(Settings(data_dir=data_dir, database_url=None, blob_url=None))
    try:
        account = parts.accounts.create_account("bench")
        key = parts.accounts.create_key(account.id, "bench@example.com")
    finally:
        parts.close()
    return Credentials(key.access_key, key.secret_key, account.id)


def service(source: Path, workdir: Path, timeout: float) -> ServiceRun:
    data_dir, server_tmp = workdir / "service-data", workdir / "service-tmp"
    server_tmp.mkdir()
    creds = prepare_data_dir(data_dir)
    env = {**NO_ENV_STORES, "TMPDIR": str(server_tmp)}
    with running_server(data_dir, env) as server:
        assert server.proc is not None
        roots = (data_dir, server_tmp)
        with sampling(server.proc.pid, roots, disk_use(*roots)) as peaks:
            run = upload_and_wait(server.base_url, creds, source, timeout)
    run.peaks = peaks
    return run


# --------------------------------------------------------------------------- reporting


def report_by_hand(report: Report, hand: ByHand) -> None:
    report.table("by hand (seconds)", [{"step": k, "seconds": v} for k, v in hand.steps.items()])
    report.figure(
        "by_hand", seconds=hand.seconds, qemu_img_peak_rss_mib=hand.qemu_rss_kib / 1024, **hand.steps
    )


def report_service(report: Report, hand: ByHand, run: ServiceRun, input_size: int) -> None:
    rows = [{"phase": k, "first_seen_s": v} for k, v in run.phases.items()]
    report.table("service phases (seconds from the upload's start)", rows)
    got = ratio(run.seconds, hand.seconds)
    report.figure(
        "service",
        seconds=run.seconds,
        upload_s=run.upload_seconds,
        by_hand_s=hand.seconds,
        ratio=got,
        goal=GOAL_RATIO,
        verdict=verdict(got <= GOAL_RATIO),
        same_bytes_as_by_hand=run.checksum == hand.md5,
    )
    server_mib = max(run.peaks.server_kib.values(), default=0) / 1024
    report.figure(
        "server_rss",
        peak_mib=server_mib,
        processes=len(run.peaks.server_kib),
        qemu_img_peak_mib=run.peaks.qemu_kib / 1024,
        goal_mib=GOAL_SERVER_RSS_MIB,
        verdict=verdict(0 < server_mib < GOAL_SERVER_RSS_MIB),
    )
    bound = input_size + run.size
    report.figure(
        "temp_disk",
        peak_mib=run.peaks.disk_bytes / MiB,
        input_plus_output_mib=bound / MiB,
        verdict=verdict(run.peaks.disk_bytes <= bound),
    )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=2048, help="virtual size of the VMDK (default 2048)")
    parser.add_argument("--data-mib", type=int, help="random data in it (default: half the virtual size)")
    parser.add_argument("--workdir", type=Path, help="where the temporary files go (default: system temp)")
    parser.add_argument("--by-hand-only", action="store_true", help="skip the service (no server started)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for active")
    return parser.parse_args(argv)


def check_space(workdir: Path, size: int) -> None:
    free = shutil.disk_usage(workdir).free
    if free < 5 * size:
        raise SystemExit(f"{workdir} has {free // MiB} MiB free; this run needs about {5 * size // MiB} MiB")


def run(report: Report, args: argparse.Namespace, workdir: Path) -> int:
    size = args.size_mib * MiB
    data = (args.data_mib if args.data_mib is not None else args.size_mib // 2) * MiB
    check_space(workdir, data)
    seconds, source = timed(lambda: make_vmdk(workdir, size, data))
    input_size = source.stat().st_size
    report.note(
        f"source: streamOptimized VMDK, {size // MiB} MiB virtual, {input_size:,} bytes "
        f"(made in {seconds:.1f} s)"
    )
    hand = by_hand(source, workdir)
    report_by_hand(report, hand)
    if args.by_hand_only:
        return 0
    try:
        result = service(source, workdir, args.timeout)
    except Exception as exc:  # a service that cannot convert yet says so; the by-hand figures stand
        report.note(f"the service part failed: {type(exc).__name__}: {str(exc)[:500]}")
        return 1
    report_service(report, hand, result, input_size)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    report = Report("convert", {k: str(v) for k, v in vars(args).items()})
    with tempfile.TemporaryDirectory(prefix="scp-bench-convert-", dir=args.workdir) as tmp:
        code = run(report, args, Path(tmp))
    report.write()
    return code


if __name__ == "__main__":
    sys.exit(run_main(main))
