"""Start several real ``scp-images`` processes so that they reach the command at the same instant.

Run as a script: ``python together.py GO_FILE ARGS…`` imports the CLI (the slow part), prints ``ready``, waits
for GO_FILE to exist and then runs ``scp-images ARGS…``. ``start_together`` opens the barrier once every
process is ready, so their start-up work (migrations, the first account) really overlaps.
"""

from __future__ import annotations

import select
import subprocess
import sys
import time
from pathlib import Path

BARRIER_SECONDS = 120


def start_together(go: Path, commands: list[list[str]], env: dict[str, str]) -> list[subprocess.Popen[str]]:
    """One process per ``scp-images`` argument list, all let go at once; stdout and stderr are pipes."""
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(go), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    deadline = time.monotonic() + BARRIER_SECONDS
    try:
        for proc in procs:
            assert proc.stdout is not None
            readable, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            line = proc.stdout.readline() if readable else "(nothing in time)"
            if line.strip() != "ready":
                proc.kill()
                _, err = proc.communicate(timeout=10)
                raise RuntimeError(f"a process did not reach the barrier: {line!r} {err}")
    except BaseException:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)
        raise
    go.touch()
    return procs


def _wait_for_barrier(go: Path) -> None:
    deadline = time.monotonic() + BARRIER_SECONDS
    while not go.exists():
        if time.monotonic() > deadline:
            sys.exit("the barrier was never opened")
        time.sleep(0.002)


def _import_everything() -> None:
    """Pay for the imports before the barrier: after it, only the command's own work is left."""
    import importlib

    for name in (
        "scp_images.cli.admin",
        "scp_images.cli.server",
        "alembic.command",
        "alembic.ddl.sqlite",
        "alembic.ddl.postgresql",
        "sqlalchemy.dialects.sqlite.pysqlite",
        "sqlalchemy.dialects.postgresql.psycopg",
    ):
        importlib.import_module(name)


if __name__ == "__main__":
    from scp_images.cli.main import main

    _import_everything()

    print("ready", flush=True)
    _wait_for_barrier(Path(sys.argv[1]))
    sys.argv = ["scp-images", *sys.argv[2:]]
    main()
