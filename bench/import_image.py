"""Image import and download throughput as ratios to the floors of the same machine, same run.

    python bench/import_image.py [--quick] [--size-mib N] [--workdir DIR]

Makes a qcow2 of at least 2 GiB (``--quick``: 512 MiB) with every cluster allocated
(``qemu-img convert -O qcow2`` from a raw file of ``os.urandom`` blocks), then over those same
bytes, read from the page cache (the file is read once to warm it; dropping it from the cache
needs root, so every figure is a warm-cache figure):

Every step runs ``--rounds`` times (default 2), alternating, and the best pass counts.

* the floors: reading the file in 1 MiB chunks; sha512 alone, md5 alone, md5 + sha512 in one
  thread; the filesystem blob store writing it (1 MiB writes, commit = fsync + rename);
* the import through ``scp_images.imports.pipeline.ingest`` into a filesystem blob writer, as a
  ratio to min(sha512 alone, source read, blob write) (goal >= 0.8);
* the end-to-end ``scp-images admin image import`` as a subprocess, with its own peak RSS (from
  ``getrusage(RUSAGE_CHILDREN)`` in a fresh wrapper process whose only child it is; goal < 200 MB);
* the download through the real server (signed ``GET /v2/images/{id}/file`` streamed with httpx,
  bytes discarded) as a ratio to reading the stored blob file directly (goal >= 0.8).

All big files live in a temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _common import (
    Credentials,
    MiB,
    Report,
    ratio,
    run_main,
    running_server,
    scp_images_command,
    signed_headers,
    verdict,
)

from scp_images.app import build_components
from scp_images.config import Settings
from scp_images.imports.pipeline import ingest, read_file_chunks
from scp_images.store.blob import create_blob_store

GOAL_IMPORT_RATIO = 0.8
GOAL_RSS_MB = 200
GOAL_DOWNLOAD_RATIO = 0.8
GLANCE = {"upload": 140.0, "md5_sha512": 220.0, "sha512": 390.0}  # MiB/s on this machine
NO_ENV_STORES = {"SCP_IMAGES_DATABASE_URL": "", "SCP_IMAGES_BLOB_URL": ""}

# Runs in a fresh interpreter whose only child is the command, so RUSAGE_CHILDREN's ru_maxrss is
# that command's own peak RSS (kB on Linux). The child dies with the wrapper (PR_SET_PDEATHSIG).
_RSS_PROBE = r"""
import ctypes, json, resource, signal, subprocess, sys, time
def _die_with_parent():
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True, preexec_fn=_die_with_parent)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
result = {"rc": done.returncode, "seconds": seconds, "maxrss_kb": usage.ru_maxrss, "stdout": done.stdout}
print(json.dumps(result))
"""


def mib_s(size: int, seconds: float) -> float:
    return size / MiB / seconds if seconds else float("nan")


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


# --------------------------------------------------------------------------- the source image


def write_random_raw(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        for _ in range(size // MiB):
            out.write(os.urandom(MiB))


def make_qcow2(workdir: Path, size: int) -> Path:
    raw, image = workdir / "source.raw", workdir / "source.qcow2"
    write_random_raw(raw, size)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(image)], check=True)
    raw.unlink()
    os.sync()  # start the measurements with no dirty pages pending
    if image.stat().st_size < size:
        raise RuntimeError(f"{image} has only {image.stat().st_size} bytes, wanted >= {size}")
    return image


# --------------------------------------------------------------------------- floors


def read_all(path: Path) -> int:
    return sum(len(chunk) for chunk in read_file_chunks(str(path)))


def hash_file(path: Path, *names: str) -> int:
    hashers = [hashlib.new(name) for name in names]
    size = 0
    for chunk in read_file_chunks(str(path)):
        size += len(chunk)
        for hasher in hashers:
            hasher.update(chunk)
    return size


def blob_write(path: Path, blob_root: Path) -> int:
    store = create_blob_store(blob_root.as_uri())
    with store.writer("bench/write") as writer:
        for chunk in read_file_chunks(str(path)):
            writer.write(chunk)
        writer.commit()
    store.delete("bench/write")
    return writer.bytes_written


def pipeline_import(path: Path, blob_root: Path) -> int:
    store = create_blob_store(blob_root.as_uri())
    settings = Settings(database_url=None, blob_url=None)
    with store.writer("bench/pipeline") as writer:
        result = ingest(
            read_file_chunks(str(path)),
            writer,
            max_bytes=settings.import_max_bytes,
            max_virtual_size=settings.max_virtual_size,
        )
        writer.commit()
    store.delete("bench/pipeline")
    return result.size


def floors(image: Path, workdir: Path, rounds: int) -> dict[str, float]:
    """MiB/s of each step, best of ``rounds`` passes; the steps alternate so they share the noise."""
    size = image.stat().st_size
    read_all(image)  # warm the page cache; not timed
    steps: dict[str, Callable[[], Any]] = {
        "source_read": lambda: read_all(image),
        "sha512": lambda: hash_file(image, "sha512"),
        "md5": lambda: hash_file(image, "md5"),
        "md5_sha512_one_thread": lambda: hash_file(image, "md5", "sha512"),
        "blob_write": lambda: blob_write(image, workdir / "blobs"),
        "import_pipeline": lambda: pipeline_import(image, workdir / "blobs"),
    }
    rates: dict[str, float] = {}
    for round_no in range(1, rounds + 1):
        for name, step in steps.items():
            seconds, _ = timed(step)
            rates[name] = max(rates.get(name, 0.0), mib_s(size, seconds))
            print(
                f"  [{round_no}/{rounds}] {name:<24} {mib_s(size, seconds):8.1f} MiB/s  ({seconds:.2f} s)",
                flush=True,
            )
    return rates


# --------------------------------------------------------------------------- CLI import


@dataclass(frozen=True)
class CliRun:
    seconds: float
    maxrss_kb: int
    stdout: str


def run_probed(cmd: list[str], env: dict[str, str]) -> CliRun:
    done = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, *cmd],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    if done.returncode != 0:
        raise RuntimeError(f"rss probe failed: {done.stderr[-2000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    if data["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {data['rc']}: {done.stderr[-2000:]}")
    return CliRun(data["seconds"], data["maxrss_kb"], data["stdout"])


def prepare_data_dir(data_dir: Path) -> Credentials:
    parts = build_components(Settings(data_dir=data_dir, database_url=None, blob_url=None))
    try:
        account = parts.accounts.create_account("bench")
        key = parts.accounts.create_key(account.id, "bench@example.com")
    finally:
        parts.close()
    return Credentials(key.access_key, key.secret_key, account.id)


def cli_import(image: Path, data_dir: Path, owner: str) -> tuple[CliRun, CliRun, str]:
    """(startup-only run, import run, image id): the CLI's fixed cost is measured separately."""
    admin = [*scp_images_command(), "admin", "--data-dir", str(data_dir)]
    startup = run_probed([*admin, "account", "list", "--json"], NO_ENV_STORES)
    args = ["--file", str(image), "--name", "bench-import", "--os-distro", "ubuntu", "--owner", owner]
    run = run_probed([*admin, "image", "import", *args, "--visibility", "public", "--json"], NO_ENV_STORES)
    return startup, run, json.loads(run.stdout)["id"]


# --------------------------------------------------------------------------- download


def stored_blob(data_dir: Path, image_id: str) -> Path:
    found = sorted((data_dir / "blobs" / "images" / image_id).glob("*"))
    if len(found) != 1:
        raise RuntimeError(f"expected one stored blob for {image_id}, found {found}")
    return found[0]


def download(base_url: str, image_id: str, creds: Credentials) -> int:
    url = f"{base_url}/v2/images/{image_id}/file"
    size = 0
    with (
        httpx.Client(timeout=60.0) as client,
        client.stream("GET", url, headers=signed_headers("GET", url, creds)) as response,
    ):
        if response.status_code != 200:
            raise RuntimeError(f"download answered {response.status_code}: {response.read()[:300]!r}")
        for chunk in response.iter_raw(MiB):
            size += len(chunk)
    return size


def download_rates(data_dir: Path, image_id: str, creds: Credentials, rounds: int) -> tuple[float, float]:
    """(direct read MiB/s, download MiB/s), each the best of alternating rounds."""
    blob = stored_blob(data_dir, image_id)
    size = blob.stat().st_size
    read_all(blob)  # warm; not timed
    direct, served = [], []
    with running_server(data_dir, NO_ENV_STORES) as server:
        for _ in range(rounds):
            direct.append(timed(lambda: read_all(blob))[0])
            seconds, got = timed(lambda: download(server.base_url, image_id, creds))
            if got != size:
                raise RuntimeError(f"downloaded {got} bytes, the blob has {size}")
            served.append(seconds)
    return mib_s(size, min(direct)), mib_s(size, min(served))


# --------------------------------------------------------------------------- reporting


def report_floors(report: Report, rates: dict[str, float]) -> float:
    for name in ("source_read", "sha512", "md5", "md5_sha512_one_thread", "blob_write"):
        report.figure(name, mib_s=rates[name])
    floor = min(rates["sha512"], rates["source_read"], rates["blob_write"])
    got = ratio(rates["import_pipeline"], floor)
    report.figure(
        "import_pipeline",
        mib_s=rates["import_pipeline"],
        floor_mib_s=floor,
        ratio=got,
        goal=GOAL_IMPORT_RATIO,
        verdict=verdict(got >= GOAL_IMPORT_RATIO),
    )
    return floor


def report_cli(report: Report, size: int, floor: float, startup: CliRun, run: CliRun) -> None:
    rss_mb = run.maxrss_kb * 1024 / 1e6
    net = mib_s(size, max(run.seconds - startup.seconds, 1e-9))
    report.figure(
        "import_cli",
        mib_s=mib_s(size, run.seconds),
        net_mib_s=net,
        startup_s=startup.seconds,
        ratio=ratio(mib_s(size, run.seconds), floor),
        net_ratio=ratio(net, floor),
        goal=GOAL_IMPORT_RATIO,
        verdict=verdict(ratio(net, floor) >= GOAL_IMPORT_RATIO),
    )
    report.figure(
        "import_cli_rss", peak_rss_mb=rss_mb, goal_mb=GOAL_RSS_MB, verdict=verdict(rss_mb < GOAL_RSS_MB)
    )


def report_context(report: Report, rates: dict[str, float]) -> None:
    report.note(
        f"Context: Glance 33 uploads at about {GLANCE['upload']:.0f} MiB/s on this machine, where one-thread "
        f"md5+sha512 runs at about {GLANCE['md5_sha512']:.0f} MiB/s and sha512 alone at about "
        f"{GLANCE['sha512']:.0f} MiB/s (Glance: {GLANCE['upload'] / GLANCE['md5_sha512']:.2f}x its "
        f"md5+sha512, {GLANCE['upload'] / GLANCE['sha512']:.2f}x sha512 alone)."
    )
    report.figure(
        "import_vs_hash_floors",
        over_md5_sha512=ratio(rates["import_pipeline"], rates["md5_sha512_one_thread"]),
        glance_over_md5_sha512=GLANCE["upload"] / GLANCE["md5_sha512"],
        over_sha512=ratio(rates["import_pipeline"], rates["sha512"]),
        glance_over_sha512=GLANCE["upload"] / GLANCE["sha512"],
    )


def report_download(report: Report, direct: float, served: float) -> None:
    got = ratio(served, direct)
    report.figure(
        "download",
        mib_s=served,
        direct_read_mib_s=direct,
        ratio=got,
        goal=GOAL_DOWNLOAD_RATIO,
        verdict=verdict(got >= GOAL_DOWNLOAD_RATIO),
    )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a 512 MiB image instead of 2 GiB")
    parser.add_argument("--size-mib", type=int, help="raw image size in MiB (default 2048; --quick 512)")
    parser.add_argument("--rounds", type=int, default=2, help="passes over each step; the best counts")
    parser.add_argument(
        "--workdir", type=Path, help="where to put the temporary files (default: system temp)"
    )
    return parser.parse_args(argv)


def run(report: Report, size: int, workdir: Path, rounds: int) -> None:
    print(f"making a {size // MiB} MiB qcow2 of random data in {workdir} ...", flush=True)
    seconds, image = timed(lambda: make_qcow2(workdir, size))
    on_disk = image.stat().st_size
    report.note(
        f"source: {on_disk:,} bytes qcow2 on disk (made in {seconds:.1f} s); all reads are warm-cache"
    )
    rates = floors(image, workdir, rounds)
    data_dir = workdir / "cli-data"
    creds = prepare_data_dir(data_dir)
    startup, cli, image_id = cli_import(image, data_dir, creds.account_id)
    print(
        f"  admin image import       {mib_s(on_disk, cli.seconds):8.1f} MiB/s  ({cli.seconds:.2f} s)",
        flush=True,
    )
    image.unlink()  # free the page cache and disk before the download
    direct, served = download_rates(data_dir, image_id, creds, rounds)
    rows = [{"step": k, "MiB/s": v} for k, v in rates.items()]
    rows += [{"step": "admin image import (wall)", "MiB/s": mib_s(on_disk, cli.seconds)}]
    rows += [
        {"step": "direct read of stored blob", "MiB/s": direct},
        {"step": "server download", "MiB/s": served},
    ]
    report.table(f"throughput over the same {on_disk / MiB:.0f} MiB (warm page cache)", rows)
    floor = report_floors(report, rates)
    report_cli(report, on_disk, floor, startup, cli)
    report_download(report, direct, served)
    report_context(report, rates)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    size = (args.size_mib or (512 if args.quick else 2048)) * MiB
    report = Report("import_image", {k: str(v) for k, v in vars(args).items()})
    with tempfile.TemporaryDirectory(prefix="scp-bench-import-", dir=args.workdir) as tmp:
        run(report, size, Path(tmp), args.rounds)
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
