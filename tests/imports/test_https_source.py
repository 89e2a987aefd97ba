"""The real https path on loopback: no test switch, a throw-away CA, and a fake DNS answer.

The server's certificate names only ``mirror.test`` (no IP address), and the connection goes to
127.0.0.1: a download succeeds only if the request is pinned to the checked address while TLS sends and
verifies the host name.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scp_images.domain.errors import ImportSourceRejected
from scp_images.imports.sources import SourceConfig, SourceResolver
from tests.imports.helpers import ImageServer, read_all, start_image_server
from tests.imports.tls import ThrowawayCA, make_ca


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCA:
    return make_ca(tmp_path_factory.mktemp("tls"), "mirror.test")


@pytest.fixture(scope="module")
def https_server(ca: ThrowawayCA) -> Iterator[ImageServer]:
    server, httpd = start_image_server({"small.qcow2": b"qcow2 bytes over TLS"}, tls=ca.server_context)
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


def resolver_for(server: ImageServer, name: str) -> SourceResolver:
    config = SourceConfig(None, None, None, None, (f"{name}:{server.port}",), 1 << 20, 4096)
    return SourceResolver(config, resolve_host=lambda host: {name: ["127.0.0.1"]}[host])


def test_https_download_pins_the_address_and_verifies_the_name(
    https_server: ImageServer, ca: ThrowawayCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    https_server.log.clear()
    source = resolver_for(https_server, "mirror.test").open(
        https_server.url("/files/small.qcow2", "mirror.test")
    )
    assert b"".join(read_all(source)) == b"qcow2 bytes over TLS"
    assert https_server.log.entries == [(f"mirror.test:{https_server.port}", "/files/small.qcow2")]


def test_certificate_for_another_name_is_refused(
    https_server: ImageServer, ca: ThrowawayCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    resolver = resolver_for(https_server, "other.test")
    with pytest.raises(
        ImportSourceRejected, match=r"could not connect to other\.test:\d+ .*CERTIFICATE_VERIFY_FAILED"
    ):
        resolver.open(https_server.url("/files/small.qcow2", "other.test"))


def test_untrusted_certificate_is_refused(https_server: ImageServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    resolver = resolver_for(https_server, "mirror.test")
    with pytest.raises(ImportSourceRejected, match="CERTIFICATE_VERIFY_FAILED"):
        resolver.open(https_server.url("/files/small.qcow2", "mirror.test"))


def test_plain_http_is_refused_without_the_test_switch(https_server: ImageServer) -> None:
    with pytest.raises(ImportSourceRejected, match="plain http"):
        resolver_for(https_server, "mirror.test").open(
            f"http://mirror.test:{https_server.port}/files/small.qcow2"
        )
