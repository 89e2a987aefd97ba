"""The verdict on Tempest's runs, shared by the SQLite and PostgreSQL test modules."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.interop import tempest_venv
from tests.interop.tempest_run import Target, Verdict, run_suite
from tests.support.tools import missing

# The bar: across the two runs, at least this many tests pass.
MIN_PASSED = 60
# Set to a folder to keep Tempest's workspace (config, accounts, logs, subunit) in FOLDER/<database>.
KEEP = "SCP_IMAGES_TEMPEST_KEEP"


def check_tempest(tmp_path: Path, target: Target, database: str) -> list[Verdict]:
    root = tmp_path
    if os.environ.get(KEEP):
        root = Path(os.environ[KEEP]).resolve() / database
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
    try:
        tempest_venv.ensure()
    except tempest_venv.TempestUnavailable as exc:
        missing(f"Tempest {tempest_venv.VERSION} could not be installed: {exc}")
    verdicts = run_suite(root, target)
    report = "\n\n".join(v.summary() for v in verdicts)
    print(report)  # shown with -rA / on failure: counts, failures with their first error line, skips
    passed = sum(len(v.passed) for v in verdicts)
    assert all(v.ok for v in verdicts) and passed >= MIN_PASSED, (
        f"Tempest's image suite: {passed} passed (at least {MIN_PASSED} needed)\n{report}"
    )
    return verdicts
