"""While a conversion runs, the import status shows the original disk with its sha512 null (the server
computes it beside qemu-img): the SDK reads it as None and ``image import-status`` prints no value for
it; once the image is active both show the sha512 of the file as it was sent."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from scp_images.config import Settings
from tests.cli.conftest import json_of, key_env, run_cli
from tests.support.disks import disk_as, source_qcow2
from tests.support.stack import Key, Stack
from tests.support.tools import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # output, not storage


@pytest.fixture
def go(tmp_path: Path) -> Path:
    """The file whose creation lets the server's qemu-img start."""
    return tmp_path / "go"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, go: Path) -> Settings:
    """The server's qemu-img waits for ``go`` (at most two minutes): the test reads the status while the
    conversion is surely running."""
    wrapper = tmp_path / "held-qemu-img"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"n=0; while [ ! -e {go} ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n+1)); done\n"
        'exec /usr/bin/qemu-img "$@"\n'
    )
    wrapper.chmod(0o755)
    return Settings(data_dir=tmp_path / "data", database_url=database_url, qemu_img=str(wrapper))


def test_the_status_shows_the_originals_sha512_null_while_converting_then_its_value(
    stack: Stack, owner: Key, home: Path, tmp_path: Path, go: Path
) -> None:
    vmdk = disk_as(source_qcow2(tmp_path), "vmdk", "disk.vmdk")
    sha512 = hashlib.sha512(vmdk.read_bytes()).hexdigest()
    env = key_env(stack, owner, home)
    with stack.client(owner) as client:
        image = client.images.create_from_file(vmdk, "vm", "ubuntu")
        status = wait_until(
            lambda: client.images.import_status(image.id),
            accept=lambda shown: shown.phase == "converting" and shown.status == "running",
            what="the conversion running",
        )
        assert status.original is not None and status.original.sha512 is None
        assert (status.original.disk_format, status.original.size) == ("vmdk", vmdk.stat().st_size)

        as_json = run_cli(env, "import-status", image.id, "--json")
        assert as_json.returncode == 0, as_json.stderr
        assert json_of(as_json)["original"] == {
            "disk_format": "vmdk",
            "size": vmdk.stat().st_size,
            "sha512": None,
        }
        shown = run_cli(env, "import-status", image.id)
        assert shown.returncode == 0, shown.stderr
        assert re.search(r"^original_sha512 *$", shown.stdout, re.MULTILINE), shown.stdout
        assert "None" not in shown.stdout

        go.touch()
        assert client.images.wait(image.id, "active", timeout=120, interval=0.5).status == "active"
        done = client.images.import_status(image.id).original
        assert done is not None and done.sha512 == sha512
    shown = run_cli(env, "import-status", image.id)
    assert re.search(rf"^original_sha512 +{sha512}$", shown.stdout, re.MULTILINE), shown.stdout
