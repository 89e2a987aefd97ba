"""``web-download`` end to end: glanceclient asks for an import from an allowlisted https mirror (a
throw-away CA, the name pinned to loopback), the job runs through the same source rules and pipeline as an
SCP URL import, and the image becomes active with the mirror's bytes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from scp_images.app import source_config
from scp_images.config import Settings
from scp_images.imports.sources import SourceResolver
from tests.imports.helpers import start_image_server
from tests.imports.tls import make_ca
from tests.openstack.conftest import glance, md5
from tests.support.stack import start_stack
from tests.support.tools import wait_until

MIRROR = "mirror.test"


def test_web_download_imports_from_an_allowlisted_mirror(
    settings: Settings, make_qcow2: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_qcow2("mirror.qcow2", "16M").read_bytes()
    (tmp_path / "tls").mkdir()
    ca = make_ca(tmp_path / "tls", MIRROR)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    server, httpd = start_image_server({"disk.qcow2": data}, tls=ca.server_context)
    try:
        configured = settings.model_copy(
            update={"import_allowed_hosts": [f"{MIRROR}:{server.port}"], "import_heartbeat_seconds": 0.2}
        )
        sources = SourceResolver(source_config(configured), resolve_host=lambda host: ["127.0.0.1"])
        stack = start_stack(configured, sources=sources)
        try:
            key = stack.new_account("alpha")
            client = glance(stack, key)
            image = client.images.create(name="web", disk_format="qcow2", container_format="bare")
            uri = server.url("/files/disk.qcow2", MIRROR)
            client.images.image_import(image["id"], method="web-download", uri=uri)
            wait_until(
                lambda: client.images.get(image["id"])["status"] in ("active", "killed"),
                what="the web-download import",
                timeout=60,
            )
            shown = client.images.get(image["id"])
            assert (shown["status"], shown["checksum"]) == ("active", md5(data))
            assert b"".join(client.images.data(image["id"])) == data
        finally:
            stack.stop()
    finally:
        httpd.shutdown()
        httpd.server_close()
