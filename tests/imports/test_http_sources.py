"""Opening allowlisted http(s) URLs against a real HTTP server on 127.0.0.1.

TLS is not available on loopback, so the resolvers here use ``allow_plain_http_for_tests``: every rule
other than the scheme is the one production applies to https.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest

from scp_images.domain.errors import DiskImageRejected, ImportSourceRejected
from scp_images.imports.sources import SourceResolver
from tests.imports.conftest import HTTP_CHUNK_SIZE, HTTP_MAX_BYTES
from tests.imports.helpers import ImageServer, assert_chunked, read_all

MakeResolver = Callable[..., SourceResolver]


class RecordingResolver:
    """A fake DNS: a fixed answer per name, remembering which names were asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"no such host {host}")
        return self.answers[host]


def local(server: ImageServer) -> tuple[str, ...]:
    return (f"127.0.0.1:{server.port}",)


def redirect(server: ImageServer, to: str) -> str:
    return server.url(f"/redirect?to={quote(to, safe='')}")


# --- plain downloads ---------------------------------------------------------------------------


def test_download_from_an_allowlisted_host(
    http_resolver: MakeResolver, http_server: ImageServer, http_files: dict[str, bytes]
) -> None:
    source = http_resolver(local(http_server)).open(http_server.url("/files/image.qcow2"))
    assert source.total == len(http_files["image.qcow2"])
    chunks = read_all(source)
    assert b"".join(chunks) == http_files["image.qcow2"]
    assert_chunked(chunks, HTTP_CHUNK_SIZE)


def test_object_exactly_at_the_limit_is_read(
    http_resolver: MakeResolver, http_server: ImageServer, http_files: dict[str, bytes]
) -> None:
    source = http_resolver(local(http_server)).open(http_server.url("/files/exact.qcow2"))
    assert b"".join(read_all(source)) == http_files["exact.qcow2"]


def test_loopback_is_refused_unless_allowlisted(
    http_resolver: MakeResolver, http_server: ImageServer
) -> None:
    url = http_server.url("/files/image.qcow2")
    resolver = http_resolver(())
    for attempt in (resolver.check, resolver.open):
        with pytest.raises(ImportSourceRejected, match=r"127\.0\.0\.1, a loopback address"):
            attempt(url)
    assert http_server.log.paths() == []


def test_allowlist_entry_without_a_port_allows_only_the_default_port(
    http_resolver: MakeResolver, http_server: ImageServer
) -> None:
    with pytest.raises(ImportSourceRejected, match="loopback"):
        http_resolver(("127.0.0.1",)).open(http_server.url("/files/image.qcow2"))
    assert http_server.log.paths() == []


def test_allowlisted_name_is_fetched_from_the_address_it_resolves_to(
    http_resolver: MakeResolver, http_server: ImageServer, http_files: dict[str, bytes]
) -> None:
    dns = RecordingResolver({"mirror.test": ["127.0.0.1"]})
    resolver = http_resolver((f"mirror.test:{http_server.port}",), resolve_host=dns)
    source = resolver.open(http_server.url("/files/small.qcow2", host="mirror.test"))
    assert b"".join(read_all(source)) == http_files["small.qcow2"]
    assert dns.asked == ["mirror.test"]
    assert http_server.log.entries == [(f"mirror.test:{http_server.port}", "/files/small.qcow2")]


def test_next_address_is_tried_when_the_first_refuses_connections(
    http_resolver: MakeResolver, http_server: ImageServer, http_files: dict[str, bytes]
) -> None:
    # The server listens on 127.0.0.1 only, so 127.0.0.3 refuses the connection.
    dns = RecordingResolver({"mirror.test": ["127.0.0.3", "127.0.0.1"]})
    resolver = http_resolver((f"mirror.test:{http_server.port}",), resolve_host=dns)
    source = resolver.open(http_server.url("/files/small.qcow2", host="mirror.test"))
    assert b"".join(read_all(source)) == http_files["small.qcow2"]


def test_no_address_accepting_connections(http_resolver: MakeResolver, http_server: ImageServer) -> None:
    dns = RecordingResolver({"mirror.test": ["127.0.0.3"]})
    resolver = http_resolver((f"mirror.test:{http_server.port}",), resolve_host=dns)
    with pytest.raises(ImportSourceRejected, match=f"could not connect to mirror.test:{http_server.port}"):
        resolver.open(http_server.url("/files/small.qcow2", host="mirror.test"))


def test_unresolvable_name(http_resolver: MakeResolver, http_server: ImageServer) -> None:
    resolver = http_resolver((f"mirror.test:{http_server.port}",), resolve_host=RecordingResolver({}))
    with pytest.raises(ImportSourceRejected, match=r"the host mirror\.test could not be resolved"):
        resolver.open(http_server.url("/files/small.qcow2", host="mirror.test"))


# --- names resolving to addresses that may not be used -----------------------------------------

BAD_ANSWERS = [["10.0.0.1"], ["169.254.169.254"], ["::1"], ["127.0.0.2"], ["93.184.215.14", "10.0.0.1"]]


@pytest.mark.parametrize("answer", BAD_ANSWERS)
def test_unlisted_name_is_refused_without_even_resolving_it(
    http_resolver: MakeResolver, http_server: ImageServer, answer: list[str]
) -> None:
    dns = RecordingResolver({"internal.test": answer})
    resolver = http_resolver(local(http_server), resolve_host=dns)
    with pytest.raises(ImportSourceRejected, match=r"internal.test:\d+ is not allowed"):
        resolver.open(http_server.url("/files/small.qcow2", host="internal.test"))
    assert dns.asked == []
    assert http_server.log.paths() == []


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (["169.254.169.254"], "link-local"),
        (["fe80::1"], "link-local"),
        (["0.0.0.0"], "unspecified"),
        (["::"], "unspecified"),
        (["224.0.0.1"], "multicast"),
        (["240.0.0.1"], "reserved"),
        (["::ffff:169.254.169.254"], "link-local"),
        # Every address is checked, not just the first one.
        (["127.0.0.1", "169.254.169.254"], "link-local"),
        (["not-an-ip"], "not an IP address"),
        ([], "resolves to no address"),
    ],
)
def test_allowlisted_name_resolving_to_a_never_used_address_is_refused_before_connecting(
    http_resolver: MakeResolver, http_server: ImageServer, answer: list[str], kind: str
) -> None:
    dns = RecordingResolver({"mirror.test": answer})
    resolver = http_resolver((f"mirror.test:{http_server.port}",), resolve_host=dns)
    resolver.check(http_server.url("/files/small.qcow2", host="mirror.test"))
    with pytest.raises(ImportSourceRejected, match=kind):
        resolver.open(http_server.url("/files/small.qcow2", host="mirror.test"))
    assert dns.asked == ["mirror.test"]
    assert http_server.log.paths() == []


# --- redirects ---------------------------------------------------------------------------------


def test_redirect_to_an_allowlisted_host_is_followed(
    http_resolver: MakeResolver, http_server: ImageServer, http_files: dict[str, bytes]
) -> None:
    dns = RecordingResolver({"localhost": ["127.0.0.1"]})
    allowed = (*local(http_server), f"localhost:{http_server.port}")
    target = http_server.url("/files/image.qcow2", host="localhost")
    source = http_resolver(allowed, resolve_host=dns).open(redirect(http_server, target))
    assert b"".join(read_all(source)) == http_files["image.qcow2"]
    assert [host for host, _ in http_server.log.entries] == [
        f"127.0.0.1:{http_server.port}",
        f"localhost:{http_server.port}",
    ]


def test_relative_redirect_is_followed(
    http_resolver: MakeResolver, http_server: ImageServer, http_files: dict[str, bytes]
) -> None:
    source = http_resolver(local(http_server)).open(redirect(http_server, "/files/small.qcow2"))
    assert b"".join(read_all(source)) == http_files["small.qcow2"]


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        # localhost would reach this very server: only the allowlist stops it.
        ("http://localhost:{port}/files/small.qcow2", "localhost:{port} is not allowed"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1:{port}/files/small.qcow2", "private"),
        ("http://user:pw@127.0.0.1:{port}/files/small.qcow2", "credentials"),
        ("ftp://127.0.0.1:{port}/files/small.qcow2", "scheme ftp: is not supported"),
        ("file:///etc/passwd", "scheme file: is not supported"),
        ("//localhost:{port}/files/small.qcow2", "localhost:{port} is not allowed"),
    ],
)
def test_redirect_outside_the_allowlist_is_refused(
    http_resolver: MakeResolver, http_server: ImageServer, to: str, expected: str
) -> None:
    dns = RecordingResolver({"localhost": ["127.0.0.1"]})
    url = redirect(http_server, to.format(port=http_server.port))
    with pytest.raises(ImportSourceRejected) as caught:
        http_resolver(local(http_server), resolve_host=dns).open(url)
    assert "redirects to" in caught.value.message
    assert expected.format(port=http_server.port) in caught.value.message
    assert http_server.log.paths() == [url.removeprefix(http_server.url(""))]
    assert dns.asked == []


def test_three_redirects_are_followed(
    http_resolver: MakeResolver, http_server: ImageServer, http_files: dict[str, bytes]
) -> None:
    source = http_resolver(local(http_server)).open(http_server.url("/chain/3"))
    assert b"".join(read_all(source)) == http_files["small.qcow2"]
    assert http_server.log.paths() == ["/chain/3", "/chain/2", "/chain/1", "/chain/0"]


def test_a_fourth_redirect_is_refused(http_resolver: MakeResolver, http_server: ImageServer) -> None:
    with pytest.raises(ImportSourceRejected, match="redirects more than 3 times"):
        http_resolver(local(http_server)).open(http_server.url("/chain/4"))
    assert http_server.log.paths() == ["/chain/4", "/chain/3", "/chain/2", "/chain/1"]


# --- answers that are refused ------------------------------------------------------------------


def test_not_found_names_the_status(http_resolver: MakeResolver, http_server: ImageServer) -> None:
    with pytest.raises(ImportSourceRejected, match="the server answered 404 Not Found"):
        http_resolver(local(http_server)).open(http_server.url("/files/nope.qcow2"))


def test_declared_size_over_the_limit_is_refused_before_reading(
    http_resolver: MakeResolver, http_server: ImageServer
) -> None:
    with pytest.raises(DiskImageRejected) as caught:
        http_resolver(local(http_server)).open(http_server.url("/big-declared"))
    assert caught.value.reason == "too_large"
    assert f"limit of {HTTP_MAX_BYTES} bytes" in caught.value.message


def test_undeclared_size_over_the_limit_stops_the_stream(
    http_resolver: MakeResolver, http_server: ImageServer
) -> None:
    source = http_resolver(local(http_server)).open(http_server.url("/big-chunked"))
    assert source.total is None
    received = 0
    try:
        with pytest.raises(DiskImageRejected) as caught:
            for chunk in source.chunks():
                received += len(chunk)
    finally:
        source.close()
    assert caught.value.reason == "too_large"
    assert received <= HTTP_MAX_BYTES


def test_body_shorter_than_declared_is_a_read_failure(
    http_resolver: MakeResolver, http_server: ImageServer
) -> None:
    source = http_resolver(local(http_server)).open(http_server.url("/truncated"))
    assert source.total == 100000
    # The 5000 bytes that did arrive sit in httpx's chunk buffer, so none were handed out.
    with pytest.raises(
        ImportSourceRejected, match=r"reading .*/truncated failed after 0 bytes .*complete message body"
    ):
        read_all(source)


def test_messages_do_not_repeat_query_strings(http_resolver: MakeResolver, http_server: ImageServer) -> None:
    # Signed URLs carry their signature in the query; refusals are stored and shown.
    with pytest.raises(ImportSourceRejected) as caught:
        http_resolver(local(http_server)).open(http_server.url("/files/nope.qcow2?X-Signature=s3cr3t"))
    assert "404" in caught.value.message
    assert "s3cr3t" not in caught.value.message
    assert "/files/nope.qcow2?..." in caught.value.message
