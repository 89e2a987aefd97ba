"""A ``qemu-img`` that logs every call, for the tests that prove what reaches it (and what never does).

``write_wrapper(directory, log)`` writes an executable ``qemu-img`` into ``directory``: on each call it
appends one JSON line to ``log`` (its argv, its environment, its resource limits and its working
directory) and then ``exec``s the real qemu-img with the same arguments, so the call runs exactly as it
would have. Point the ``SCP_IMAGES_QEMU_IMG`` setting (or ``convert_to_qcow2``'s first argument) at it;
``read_calls(log)`` gives the calls back, ``[]`` when there were none.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = """#!{python} -I
# Written by tests/support/qemu_wrapper.py: log this call, then become the real qemu-img.
import json, os, resource, sys

LIMITS = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_CORE", "RLIMIT_NOFILE")
record = {{
    "argv": sys.argv[1:],
    "env": dict(os.environ),
    "cwd": os.getcwd(),
    "limits": {{name: list(resource.getrlimit(getattr(resource, name))) for name in LIMITS}},
}}
with open({log!r}, "a", encoding="utf-8") as out:
    out.write(json.dumps(record) + "\\n")
os.execv({real!r}, [{real!r}, *sys.argv[1:]])
"""


@dataclass(frozen=True)
class QemuCall:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    limits: dict[str, list[int]]

    @property
    def subcommand(self) -> str:
        return self.argv[0] if self.argv else ""


def real_qemu_img() -> str:
    found = shutil.which("qemu-img")
    if found is None:
        raise RuntimeError("qemu-img is not on PATH: install Debian's qemu-utils (make test-deps)")
    return found


def write_wrapper(directory: Path, log: Path, real: str | None = None) -> Path:
    """An executable ``directory/qemu-img`` logging to ``log`` and running ``real`` (default: the
    qemu-img on PATH); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "qemu-img"
    target = str(Path(real or real_qemu_img()).resolve())
    path.write_text(_SCRIPT.format(python=sys.executable, log=str(log.resolve()), real=target))
    path.chmod(0o755)
    return path


def read_calls(log: Path) -> list[QemuCall]:
    """Every call logged so far, in order (none if the log was never written)."""
    if not log.exists():
        return []
    calls = []
    for line in log.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        calls.append(QemuCall(data["argv"], data["env"], data["cwd"], data["limits"]))
    return calls
