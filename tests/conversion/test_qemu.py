"""``convert_to_qcow2`` with the real qemu-img on real disks, and its walls: the input driver named,
only our paths, a clean environment, resource limits, the wall clock, cancellation."""

from __future__ import annotations

import json
import os
import resource
import stat
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import pytest

from scp_images.conversion.qemu import (
    SOURCE_DRIVERS,
    ConversionCancelled,
    ConvertLimits,
    UnsafeConversionCall,
    convert_to_qcow2,
    qcow2_output_ceiling,
)
from scp_images.domain.errors import DiskImageRejected
from tests.conversion.conftest import DISKS, MiB
from tests.support.qemu_wrapper import read_calls
from tests.support.tools import require_qemu, run_tool, wait_until

DRIVER = {kind: driver for kind, (driver, _) in DISKS.items()}  # qemu-img names its output as its input
LIMITS = ConvertLimits.for_disk(64 * MiB, time_limit=120.0)


def info(path: Path) -> dict[str, object]:
    return json.loads(run_tool("qemu-img", "info", "--output=json", "-f", "qcow2", str(path)))


@pytest.mark.parametrize("kind", sorted(DISKS))
def test_each_format_converts_into_an_identical_self_contained_qcow2(
    kind: str, job_dir: Path, make_disk: Callable[..., Path]
) -> None:
    source = make_disk(kind, job_dir)
    target = job_dir / "output"
    seen: list[int] = []

    convert_to_qcow2("qemu-img", source, DRIVER[kind], target, LIMITS, progress=seen.append)

    said = run_tool("qemu-img", "compare", "-f", DRIVER[kind], "-F", "qcow2", str(source), str(target))
    assert "identical" in said
    details = info(target)
    assert details["format"] == "qcow2"
    assert "backing-filename" not in details
    specific = details["format-specific"]["data"]  # type: ignore[index]
    assert specific["compat"] == "1.1"
    assert "data-file" not in specific
    assert seen == sorted(set(seen)) and seen[-1] == 100


def test_a_fully_allocated_output_stays_under_its_ceiling(tmp_path: Path, job_dir: Path) -> None:
    require_qemu()
    raw = tmp_path / "random.raw"
    raw.write_bytes(os.urandom(24 * MiB + 4097))  # not a multiple of a cluster
    source = job_dir / "input"
    run_tool(
        "qemu-img",
        "convert",
        "-q",
        "-f",
        "raw",
        "-O",
        "vmdk",
        "-o",
        "subformat=streamOptimized",
        str(raw),
        str(source),
    )
    size = int(
        json.loads(run_tool("qemu-img", "info", "--output=json", "-f", "vmdk", str(source)))["virtual-size"]
    )
    limits = ConvertLimits(output_max_bytes=qcow2_output_ceiling(size))

    convert_to_qcow2("qemu-img", source, "vmdk", job_dir / "output", limits)

    assert (job_dir / "output").stat().st_size <= limits.output_max_bytes


@pytest.mark.parametrize("size", [0, 1, 65536, 3 * MiB + 7, 1 << 30, 1 << 40, 16 << 40])
def test_the_ceiling_holds_what_qemu_img_measures_for_a_full_disk(size: int) -> None:
    require_qemu()
    measured = json.loads(
        run_tool("qemu-img", "measure", "--output=json", "-O", "qcow2", "--size", str(size))
    )
    ceiling = qcow2_output_ceiling(size)
    assert measured["fully-allocated"] <= ceiling <= size * 1.001 + 4 * MiB


def test_an_output_past_its_size_limit_is_stopped_and_removed(
    job_dir: Path, make_disk: Callable[..., Path]
) -> None:
    source = make_disk("vmdk-streamOptimized", job_dir)
    target = job_dir / "output"

    with pytest.raises(DiskImageRejected) as refused:
        convert_to_qcow2("qemu-img", source, "vmdk", target, ConvertLimits(output_max_bytes=MiB))

    assert refused.value.reason == "conversion_failed"
    assert "size limit" in refused.value.params["detail"]
    assert not target.exists()


def test_the_child_gets_a_clean_environment_its_limits_and_our_arguments(
    job_dir: Path, make_disk: Callable[..., Path], wrapper: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-qemu")
    monkeypatch.setenv("SCP_IMAGES_DATABASE_URL", "sqlite:////secret.db")
    qemu_img, log = wrapper
    source = make_disk("vhdx-dynamic", job_dir)
    limits = ConvertLimits(output_max_bytes=40 * MiB, address_space_bytes=3 << 30, cpu_seconds=77)

    convert_to_qcow2(str(qemu_img), source, "vhdx", job_dir / "output", limits)

    (call,) = read_calls(log)
    assert call.env == {"PATH": call.env["PATH"], "LC_ALL": "C", "MALLOC_ARENA_MAX": "2"}
    assert call.argv[:5] == ["convert", "-p", "-f", "vhdx", "-O"]
    assert call.argv[-2:] == [str(source), str(job_dir / "output")]
    assert call.cwd == str(job_dir)
    assert call.limits["RLIMIT_CORE"] == [0, 0]
    assert call.limits["RLIMIT_FSIZE"] == [40 * MiB, 40 * MiB]
    assert call.limits["RLIMIT_AS"][0] == 3 << 30
    assert call.limits["RLIMIT_CPU"][0] == 77
    assert call.limits["RLIMIT_NOFILE"][0] == limits.open_files


@pytest.mark.parametrize("driver", sorted(SOURCE_DRIVERS))
def test_the_input_driver_is_always_named(driver: str, job_dir: Path, wrapper: tuple[Path, Path]) -> None:
    qemu_img, log = wrapper
    source = job_dir / "input"
    source.write_bytes(b"\0" * 4096)

    with suppress(DiskImageRejected):  # 4 KiB of zeros is a disk only to the raw driver
        convert_to_qcow2(str(qemu_img), source, driver, job_dir / "output", LIMITS)

    (call,) = read_calls(log)
    assert call.argv[call.argv.index("-f") + 1] == driver


def unsafe_calls(job_dir: Path, tmp_path: Path) -> dict[str, tuple[Path, str, Path]]:
    good, out = job_dir / "input", job_dir / "output"
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    colon = job_dir / "a:b"
    colon.write_bytes(b"x")
    (job_dir / "link").symlink_to(good)
    return {
        "qcow2 input (backing files)": (good, "qcow2", out),
        "an unknown driver": (good, "file", out),
        "a relative path": (Path("input"), "vmdk", out),
        "a colon": (colon, "vmdk", out),
        "json: prefix": (Path("json:{}"), "vmdk", out),
        "another directory": (good, "vmdk", other / "output"),
        "the same file": (good, "vmdk", good),
        "a link as input": (job_dir / "link", "vmdk", out),
        "a link as output": (good, "vmdk", job_dir / "link"),
    }


def test_calls_outside_the_rules_never_reach_qemu_img(
    job_dir: Path, tmp_path: Path, make_disk: Callable[..., Path], wrapper: tuple[Path, Path]
) -> None:
    qemu_img, log = wrapper
    make_disk("vmdk-streamOptimized", job_dir)

    for name, (source, driver, target) in unsafe_calls(job_dir, tmp_path).items():
        with pytest.raises(UnsafeConversionCall):
            convert_to_qcow2(str(qemu_img), source, driver, target, LIMITS)
            pytest.fail(f"ran with {name}")

    assert read_calls(log) == []


def test_a_directory_others_can_read_is_refused(
    job_dir: Path, make_disk: Callable[..., Path], wrapper: tuple[Path, Path]
) -> None:
    qemu_img, log = wrapper
    source = make_disk("vdi-normal", job_dir)
    job_dir.chmod(0o755)

    with pytest.raises(UnsafeConversionCall):
        convert_to_qcow2(str(qemu_img), source, "vdi", job_dir / "output", LIMITS)

    assert read_calls(log) == []


def test_a_failure_says_what_qemu_img_said_without_our_paths(job_dir: Path) -> None:
    require_qemu()
    source = job_dir / "input"
    source.write_bytes(b"not a VDI\x1b[31m" * 100)

    with pytest.raises(DiskImageRejected) as refused:
        convert_to_qcow2("qemu-img", source, "vdi", job_dir / "output", LIMITS)

    detail = refused.value.params["detail"]
    assert refused.value.reason == "conversion_failed"
    assert "status 1" in detail and "INPUT" in detail
    assert str(job_dir) not in detail
    assert detail.isprintable() and len(detail) < 400


# --------------------------------------------------------------------------- the process group


def fake_qemu(directory: Path, body: str) -> Path:
    """An executable shell script standing in for qemu-img."""
    path = directory.parent / "fake-qemu-img"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def forking_sleeper(directory: Path) -> tuple[Path, Path]:
    """A 'qemu-img' that starts a child and sleeps; it writes both pids to a file."""
    pids = directory.parent / "pids"
    script = fake_qemu(directory, f"sleep 600 &\necho $$ $! > {pids}.tmp\nmv {pids}.tmp {pids}\nwait\n")
    return script, pids


def gone(pid: int) -> bool:
    """Dead or a zombie (a reparented child waits for an init that may not reap it)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return True
    return fields[0] in ("Z", "X")


def both_gone(pids: Path) -> bool:
    return all(gone(int(pid)) for pid in pids.read_text().split())


def test_the_wall_clock_limit_kills_the_whole_process_group(job_dir: Path) -> None:
    script, pids = forking_sleeper(job_dir)
    source = job_dir / "input"
    source.write_bytes(b"\0" * 512)

    with pytest.raises(DiskImageRejected) as refused:
        convert_to_qcow2(str(script), source, "raw", job_dir / "output", ConvertLimits(MiB, wall_seconds=2.0))

    assert refused.value.reason == "conversion_timeout"
    assert len(pids.read_text().split()) == 2
    wait_until(lambda: both_gone(pids), what="the converter and its child are gone", timeout=10)


def test_cancelling_kills_the_whole_process_group(job_dir: Path) -> None:
    script, pids = forking_sleeper(job_dir)
    source = job_dir / "input"
    source.write_bytes(b"\0" * 512)

    with pytest.raises(ConversionCancelled):
        convert_to_qcow2(str(script), source, "raw", job_dir / "output", LIMITS, cancelled=pids.exists)

    wait_until(lambda: both_gone(pids), what="the converter and its child are gone", timeout=10)


def test_nothing_the_converter_started_outlives_it(job_dir: Path) -> None:
    pids = job_dir.parent / "pids"
    script = fake_qemu(job_dir, f"sleep 600 &\necho $$ $! > {pids}\nexit 0\n")  # the child keeps the pipes
    source = job_dir / "input"
    source.write_bytes(b"\0" * 512)

    with pytest.raises(DiskImageRejected) as refused:
        convert_to_qcow2(str(script), source, "raw", job_dir / "output", LIMITS)

    assert refused.value.reason == "conversion_failed"
    assert "without writing" in refused.value.params["detail"]
    wait_until(lambda: both_gone(pids), what="the converter and its child are gone", timeout=10)


def test_a_crash_is_a_failure_that_leaves_no_core_file(job_dir: Path) -> None:
    script = fake_qemu(job_dir, "echo 'about to crash' >&2\nkill -SEGV $$\n")
    source = job_dir / "input"
    source.write_bytes(b"\0" * 512)

    with pytest.raises(DiskImageRejected) as refused:
        convert_to_qcow2(str(script), source, "raw", job_dir / "output", LIMITS)

    assert refused.value.reason == "conversion_failed"
    assert "SIGSEGV" in refused.value.params["detail"]
    assert "about to crash" in refused.value.params["detail"]
    assert not [p.name for p in job_dir.parent.rglob("core*")]


def test_progress_is_read_from_qemu_img_output_cut_anywhere(job_dir: Path) -> None:
    # tokens cut in two (a pause between the halves), a repeat, a number past 100, garbage
    halves = [("    (3.50/100%)", ""), ("(3.9", "0/100%)"), ("  (4", "0.00/100%)"), ("(99.99/1", "00%)")]
    body = "".join(f"printf '{a}'\nsleep 0.3\nprintf '{b}\\r'\n" for a, b in halves)
    body = body.replace("%", "%%") + "printf '(250.00/100%%)\\r(x/100%%)'\n"
    script = fake_qemu(job_dir, body + 'for last; do :; done\n: > "$last"\n')  # writes the output
    source = job_dir / "input"
    source.write_bytes(b"\0" * 512)
    seen: list[int] = []

    convert_to_qcow2(str(script), source, "raw", job_dir / "output", LIMITS, progress=seen.append)

    assert seen == [3, 40, 99, 100]


def test_limits_are_never_above_the_hard_limits_we_run_under(
    job_dir: Path, make_disk: Callable[..., Path], wrapper: tuple[Path, Path]
) -> None:
    qemu_img, log = wrapper
    source = make_disk("raw", job_dir)
    huge = ConvertLimits(output_max_bytes=1 << 62, open_files=1 << 30)

    convert_to_qcow2(str(qemu_img), source, "raw", job_dir / "output", huge)

    (call,) = read_calls(log)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert call.limits["RLIMIT_NOFILE"][1] <= hard
    assert stat.S_IMODE(job_dir.stat().st_mode) == 0o700
