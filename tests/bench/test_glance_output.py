"""The benchmarks read Glance's figures from glance_bench.sh's output: the parser against that format.

The lines below are written the way the script's printf statements write them (bench_get's
``FIGURE %-5s workers=%s conc=%-3s rps=%-8s ...`` and the other FIGURE and INFO lines), padding
included, so a change of either side shows here."""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _glance import NO_FIGURE, load_glance, parse_glance_output


def _get_line(label: str, workers: int, conc: int, rps: str, p50: str, p99: str, errors: int) -> str:
    # bench_get's printf: FIGURE %-5s workers=%s conc=%-3s rps=%-8s p50_ms=%-8s p99_ms=%-8s errors=%s
    trailer = "median of 3 x 10s, wrk; rps range 330.1-360.4"
    return (
        f"FIGURE {label:<5} workers={workers} conc={conc:<3} rps={rps:<8} p50_ms={p50:<8} "
        f"p99_ms={p99:<8} errors={errors}  ({trailer})"
    )


OUTPUT = "\n".join(
    [
        "[glance_bench] db_sync ok",
        "INFO auth=trusted glance=33.0.0 glance_store=5.1.0 uwsgi=2.0.31 loadgen=wrk (wrk 4.1.0) nproc=2 "
        'cpu="AMD EPYC 7B13"',
        "FIGURE seed     workers=1 images=1000 seconds=41.2  (sequential POST+PUT 4KiB each)",
        "FIGURE rss-idle workers=1 total_MiB=210 per_worker_MiB=150  (uwsgi master + workers, idle)",
        _get_line("show", 1, 1, "101.50", "9.7", "14.2", 0),
        _get_line("show", 1, 16, "347.20", "44.1", "53.0", 0),
        _get_line("show", 1, 64, "340.00", "180.5", "210.9", 3),
        _get_line("list", 1, 1, "2.71", "369", "380.2", 0),
        _get_line("list", 1, 4, "2.80", "1420", "1500", 0),
        "FIGURE upload   workers=1 size=1024MiB wall_s=9.1 MiB/s=112.5  (median of 3, range 100-120 MiB/s)",
        "FIGURE rss-peak workers=1 total_MiB=260 per_worker_MiB_now=190  (max of /proc VmRSS)",
        _get_line("show", 2, 16, "608.00", "25.0", "41.5", 0),
        "FIGURE hashlib  md5        MiB/s=650  (python 3.11.7, single core)",
        "FIGURE cat      MiB/s=5000  (cat file > /dev/null, page-cached, median of 3)",
        "FIGURE dd-write 1.1 GB/s  (dd bs=1M conv=fdatasync into /tmp/glance-data)",
    ]
)


def test_show_and_list_figures_are_read_by_workers_and_concurrency() -> None:
    run = parse_glance_output(OUTPUT)
    show = run.get("show", 1, 16)
    assert show is not None
    assert (show.rps, show.p50_ms, show.p99_ms, show.errors) == (347.2, 44.1, 53.0, 0)
    assert run.get("show", 2, 16).rps == 608.0  # type: ignore[union-attr]
    assert run.get("show", 1, 64).errors == 3  # type: ignore[union-attr]
    listing = run.get("list", 1, 1)
    assert listing is not None and (listing.rps, listing.p50_ms) == (2.71, 369.0)
    assert run.get("list", 2, 1) is None  # not in the output: no figure, never a guess
    assert sorted(run.figures) == [
        ("list", 1, 1),
        ("list", 1, 4),
        ("show", 1, 1),
        ("show", 1, 16),
        ("show", 1, 64),
        ("show", 2, 16),
    ]
    assert run.info["auth"] == "trusted" and run.info["glance"] == "33.0.0"
    assert run.warnings() == []


def test_other_lines_and_broken_figures_are_ignored() -> None:
    text = "\n".join(
        [
            "FIGURE show  workers=x conc=16 rps=1",  # not a number of workers
            "FIGURE show  conc=16 rps=1",  # no workers
            "FIGURE upload   workers=1 conc=16 rps=9",  # another figure
            "FIGURE show  workers=1 conc=16  rps=abc p50_ms= p99_ms=2 errors=0",
            "show workers=1 conc=1 rps=5",  # not a FIGURE line
        ]
    )
    run = parse_glance_output(text)
    assert list(run.figures) == [("show", 1, 16)]
    figure = run.get("show", 1, 16)
    assert figure is not None and math.isnan(figure.rps) and math.isnan(figure.p50_ms) and figure.p99_ms == 2


def test_noauth_runs_empty_files_and_old_files_are_warned_about(tmp_path: Path) -> None:
    noauth = parse_glance_output(OUTPUT.replace("auth=trusted", "auth=noauth"))
    assert any("AUTH_MODE=noauth" in w for w in noauth.warnings())
    empty = tmp_path / "empty.txt"
    empty.write_text("[glance_bench] glance died\n")
    loaded = load_glance(str(empty))
    assert loaded is not None and any("no 'FIGURE show'" in w for w in loaded.warnings())
    old = tmp_path / "old.txt"
    old.write_text(OUTPUT)
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    loaded = load_glance(str(old))
    assert loaded is not None and loaded.get("show", 1, 16) is not None
    assert any("h old" in w for w in loaded.warnings())


def test_without_a_file_there_is_no_glance_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SCP_IMAGES_BENCH_GLANCE", raising=False)
    assert load_glance(None) is None
    assert NO_FIGURE == "no Glance figure given"
    saved = tmp_path / "glance.txt"
    saved.write_text(OUTPUT)
    monkeypatch.setenv("SCP_IMAGES_BENCH_GLANCE", str(saved))
    run = load_glance(None)
    assert run is not None and run.get("show", 1, 16) is not None
    with pytest.raises(SystemExit, match=r"missing\.txt"):
        load_glance(str(tmp_path / "missing.txt"))
