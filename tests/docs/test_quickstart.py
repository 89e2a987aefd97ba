"""The README's first steps, run as a newcomer runs them: every marked shell block in order, in a fresh
folder, against a fresh ``scp-images serve`` with an empty data dir, with the demo key its first start
printed; then the SDK example. So the README cannot rot.

The blocks are marked in README.md by an HTML comment on the line before the fence
(``<!-- first-steps -->`` for shell, ``<!-- first-steps-sdk -->`` for Python). Each shell block runs in its
own ``bash`` (errexit, pipefail); the variables and functions the blocks define are carried to the next, as
one terminal would. Other work changes the CLI's tables and wording, so this asserts exit codes and facts
from the outside (the image active, the download byte-identical, the image gone), not text.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scp_images.client import Client, NotFoundError
from tests.support.process import ServerProcess
from tests.support.tools import REPOSITORY, require_tool

README = REPOSITORY / "README.md"
SHELL_MARK = "<!-- first-steps -->"
SDK_MARK = "<!-- first-steps-sdk -->"
BLOCK_SECONDS = 180
_ASSIGNED = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=", re.MULTILINE)
_FUNCTION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(\)\s*\{", re.MULTILINE)


def marked_blocks(text: str, mark: str, language: str) -> list[str]:
    """The fenced ``language`` blocks that follow a ``mark`` line, in order."""
    pattern = re.compile(rf"^{re.escape(mark)}\n```{language}\n(.*?)^```$", re.MULTILINE | re.DOTALL)
    return pattern.findall(text)


@dataclass
class Demo:
    server: ServerProcess
    endpoint: str
    access_key: str
    secret_key: str

    def client(self) -> Client:
        return Client(self.endpoint, self.access_key, self.secret_key)


def demo_key(log_text: str) -> tuple[str, str]:
    """The access key and secret key of the first start's banner: fields of its JSON record, else the text."""
    for line in log_text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("access_key") and record.get("secret_key"):
            return str(record["access_key"]), str(record["secret_key"])
    access = re.search(r"access key\s*:\s*(\S+)", log_text)
    secret = re.search(r"secret key\s*:\s*(\S+)", log_text)
    assert access and secret, f"the first start printed no demo key:\n{log_text[-3000:]}"
    return access.group(1), secret.group(1)


def _clean_environment(home: Path) -> dict[str, str]:
    """This machine's environment minus anything that configures scp-images: a newcomer has none of it."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SCP_IMAGES_", "SCP_")) and name != "PROMETHEUS_MULTIPROC_DIR"
    }
    env["HOME"] = str(home)  # no ~/.scpconf
    return env


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The newcomer's folder, with ``scp-images`` on PATH running this checkout's code."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "scp-images"
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m scp_images.cli "$@"\n')
    script.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.fixture
def demo(folder: Path) -> Iterator[Demo]:
    """``scp-images serve`` on an empty data dir, the one ``./scp-images-data`` of the newcomer's folder."""
    env = _clean_environment(folder)
    env["SCP_IMAGES_DATA_DIR"] = str(folder / "scp-images-data")
    log = folder.parent / "serve.log"
    server = ServerProcess(env, log, flags=("--log-format", "json"))
    try:
        access, secret = demo_key(log.read_text(errors="replace"))
        yield Demo(server, server.base_url, access, secret)
    finally:
        server.stop()


def _environment(folder: Path, demo: Demo) -> dict[str, str]:
    env = _clean_environment(folder)
    env["PATH"] = f"{folder.parent / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(SCP_ENDPOINT=demo.endpoint, SCP_ACCESS_KEY=demo.access_key, SCP_SECRET_KEY=demo.secret_key)
    return env


class Terminal:
    """Blocks run one after the other as in one terminal: the variables and functions they define are
    saved after each block and loaded before the next."""

    def __init__(self, folder: Path, env: dict[str, str], names: list[str]) -> None:
        self.folder, self.env, self.names = folder, env, names
        self.state = folder.parent / "terminal-state.sh"
        self.state.write_text("")

    def run(self, block: str) -> None:
        names = " ".join(self.names)
        script = (
            "set -eo pipefail\n"
            f". {shlex.quote(str(self.state))}\n"
            f"{block}\n"
            f"{{ declare -p {names} 2>/dev/null || true; declare -f; }} > {shlex.quote(str(self.state))}\n"
        )
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=BLOCK_SECONDS,
        )
        assert done.returncode == 0, (
            f"this README block failed with exit code {done.returncode}:\n{block}\n"
            f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
        )

    def variable(self, name: str) -> str:
        shown = subprocess.run(
            ["bash", "-c", f'. {shlex.quote(str(self.state))}; printf %s "${{{name}:-}}"'],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return shown.stdout


def test_the_readme_marks_its_first_steps() -> None:
    """The marks are there (a README edit that drops them would silently test nothing), and the steps do
    what the README promises: create from a file, list, share, accept, download, delete."""
    text = README.read_text()
    shell = "\n".join(marked_blocks(text, SHELL_MARK, "bash"))
    for step in ("--file", "image list", "image share", "member add", "member accept", "download", "delete"):
        assert step in shell, f"the README's first steps no longer run `{step}`"
    assert "admin account create" in shell and "admin key create" in shell
    assert "s3://" not in shell  # the default install has no object store
    (sdk,) = marked_blocks(text, SDK_MARK, "python")
    for call in ("create_from_file", "share", "members.add", "set_status", "download", "delete"):
        assert call in sdk, f"the README's SDK example no longer calls `{call}`"


def test_the_first_steps_run_on_a_fresh_install(folder: Path, demo: Demo) -> None:
    require_tool("qemu-img", hint="install Debian's qemu-utils (make test-deps)")
    require_tool("jq", hint="install Debian's jq (apt-get install jq; .ci/run does)")
    text = README.read_text()
    blocks = marked_blocks(text, SHELL_MARK, "bash")
    names = sorted(set(_ASSIGNED.findall("\n".join(blocks))) - set(_FUNCTION.findall("\n".join(blocks))))
    terminal = Terminal(folder, _environment(folder, demo), names)

    checked_active = False
    image_id = ""
    with demo.client() as owner:
        for block in blocks:
            terminal.run(block)
            image_id = terminal.variable("IMAGE") or image_id
            if image_id and not checked_active:
                # The block that created it returned: the upload is done and the image is usable.
                assert owner.images.show(image_id).status == "active"
                checked_active = True
        assert checked_active, "no README block set IMAGE to the image it created"
        assert (folder / "copy.qcow2").read_bytes() == (folder / "disk.qcow2").read_bytes()
        with pytest.raises(NotFoundError):
            owner.images.show(image_id)  # the last step deleted it

    (sdk,) = marked_blocks(text, SDK_MARK, "python")
    (folder / "first_steps.py").write_text(sdk)
    done = subprocess.run(
        [sys.executable, "first_steps.py"],
        cwd=folder,
        env=_environment(folder, demo),
        capture_output=True,
        text=True,
        timeout=BLOCK_SECONDS,
    )
    assert done.returncode == 0, f"the README's SDK example failed:\n{done.stdout}\n{done.stderr}"
    assert (folder / "sdk-copy.qcow2").read_bytes() == (folder / "disk.qcow2").read_bytes()
    first_id = done.stdout.split()[0]
    with demo.client() as owner, pytest.raises(NotFoundError):
        owner.images.show(first_id)  # it printed the id of the image it made, then deleted it
