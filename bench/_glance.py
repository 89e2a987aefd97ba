"""Glance's figures, read from the saved output of a ``glance_bench.sh`` run made just before ours.

Glance's throughput moves by 2x from day to day on a shared machine, so a ratio to Glance means
something only when both were measured on the same machine minutes apart. The benchmarks therefore
never divide by a constant: they take ``--glance FILE`` (or ``SCP_IMAGES_BENCH_GLANCE``), the
standard output of ``glance_bench.sh``, whose summary lines look like

    INFO auth=trusted glance=33.0.0 glance_store=... uwsgi=2.0.31 loadgen=wrk (wrk 4.1.0) nproc=2 ...
    FIGURE show  workers=1 conc=16  rps=347.20   p50_ms=44.1 p99_ms=53.0 errors=0  (median of 3 x 10s, ...)
    FIGURE list  workers=1 conc=1   rps=2.71     p50_ms=369 p99_ms=380 errors=0  (median of 3 x 10s, ...)

Only ``FIGURE show`` and ``FIGURE list`` lines are used (keyed by workers and conc); the other
FIGURE lines (seed, rss, upload, hashlib...) and anything else in the file are ignored. Glance's
uWSGI configuration closes every connection, so its figures are ``Connection: close`` figures.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

ENV_VAR = "SCP_IMAGES_BENCH_GLANCE"
NO_FIGURE = "no Glance figure given"
_STALE_SECONDS = 3600  # older than this is not "just before"


@dataclass(frozen=True)
class GlanceFigure:
    kind: str  # "show" or "list"
    workers: int
    conc: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class GlanceRun:
    source: str
    figures: dict[tuple[str, int, int], GlanceFigure] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)
    age_seconds: float | None = None

    def get(self, kind: str, workers: int, conc: int) -> GlanceFigure | None:
        return self.figures.get((kind, workers, conc))

    def describe(self) -> str:
        shown = ", ".join(
            f"{k}={v}" for k, v in self.info.items() if k in ("auth", "glance", "loadgen", "nproc")
        )
        age = f", written {self.age_seconds / 60:.0f} min ago" if self.age_seconds is not None else ""
        return f"Glance figures from {self.source} ({shown or 'no INFO line'}{age})"

    def warnings(self) -> list[str]:
        out = []
        if self.info.get("auth") not in (None, "trusted"):
            out.append(
                f"WARNING: the Glance run used AUTH_MODE={self.info['auth']}; the comparison is made "
                "with AUTH_MODE=trusted (the project-user code path)"
            )
        if self.age_seconds is not None and self.age_seconds > _STALE_SECONDS:
            out.append(
                f"WARNING: the Glance output is {self.age_seconds / 3600:.1f} h old; ratios mean something "
                "only for runs made minutes apart"
            )
        if not self.figures:
            out.append("WARNING: the Glance output has no 'FIGURE show' or 'FIGURE list' line")
        return out


def _key_values(tokens: list[str]) -> dict[str, str]:
    pairs = (t.split("=", 1) for t in tokens if "=" in t)
    return {k: v for k, v in pairs}


def _number(values: dict[str, str], key: str) -> float:
    try:
        return float(values[key])
    except (KeyError, ValueError):
        return float("nan")


def parse_glance_output(text: str, source: str = "<text>") -> GlanceRun:
    """The show and list figures of one ``glance_bench.sh`` output (its other lines are ignored)."""
    run = GlanceRun(source)
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("INFO "):
            run.info.update(_key_values(line.split()[1:]))
            continue
        if not line.startswith("FIGURE "):
            continue
        head = line.split("(", 1)[0].split()  # the parenthesised trailer is prose
        if len(head) < 2 or head[1] not in ("show", "list"):
            continue
        values = _key_values(head[2:])
        try:
            workers, conc = int(values["workers"]), int(values["conc"])
        except (KeyError, ValueError):
            continue
        errors = values.get("errors", "0")
        run.figures[(head[1], workers, conc)] = GlanceFigure(
            head[1],
            workers,
            conc,
            _number(values, "rps"),
            _number(values, "p50_ms"),
            _number(values, "p99_ms"),
            int(errors) if errors.isdigit() else 0,
        )
    return run


def load_glance(path: str | None) -> GlanceRun | None:
    """The run named by ``path`` or ``$SCP_IMAGES_BENCH_GLANCE``; None when neither is given."""
    chosen = path or os.environ.get(ENV_VAR) or None
    if chosen is None:
        return None
    file = Path(chosen)
    try:
        text = file.read_text(errors="replace")
    except OSError as exc:
        raise SystemExit(f"--glance {chosen}: {exc.strerror}") from None
    run = parse_glance_output(text, str(file))
    run.age_seconds = max(0.0, time.time() - file.stat().st_mtime)
    return run
