"""``ImportSources``: a refusal is decided from the URL and the grants before object storage is asked.

The S3 endpoint here is a recorder on loopback that answers 404 to everything and remembers every
request, so "nothing was requested" is observed, not assumed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from scp_images.app import Components, build_components
from scp_images.config import Settings
from scp_images.domain.errors import ImportSourceForbidden, ImportSourceRejected, InvalidSourceGrant
from scp_images.domain.principal import Principal
from scp_images.domain.sources import SourceGrant
from scp_images.store.sql import grants as grant_store

BLOB_BUCKET = "service-blobs"


class _Recorder(BaseHTTPRequestHandler):
    server: _RecordingServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        with self.server.lock:
            self.server.requests.append((self.command, self.path))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer


class _RecordingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()


@pytest.fixture
def recorder() -> Iterator[_RecordingServer]:
    server = _RecordingServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def parts(tmp_path: Path, database_url: str, recorder: _RecordingServer) -> Iterator[Components]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        blob_url=f"s3://{BLOB_BUCKET}/images",
        s3_endpoint_url=f"http://127.0.0.1:{recorder.server_address[1]}",
        s3_access_key_id="service-key",
        s3_secret_access_key="service-secret",
        s3_region="us-east-1",
    )
    components = build_components(settings)
    yield components
    components.close()


def test_refusals_are_decided_before_object_storage_is_asked(
    parts: Components, recorder: _RecordingServer
) -> None:
    caller = parts.accounts.create_account("caller").id
    other = parts.accounts.create_account("other").id
    parts.source_grants.grant(caller, "granted", "team")
    parts.source_grants.grant(other, "elsewhere")
    with parts.db.transaction() as conn:  # a row on the blob store's bucket, written behind the service
        grant_store.add_grant(conn, SourceGrant(caller, BLOB_BUCKET, ""), datetime.now(UTC))
    refused = [
        "s3://granted/teamx/a.qcow2",  # the prefix is a whole segment
        "s3://granted/other/a.qcow2",
        "s3://elsewhere/team/a.qcow2",  # another account's grant
        f"https://object-store.kr-west1.e.samsungsdscloud.com/{other}/granted/team/a.qcow2",
        f"s3://{BLOB_BUCKET}/images/images/x/y",
    ]
    sources = parts.import_sources
    for url in refused:
        with pytest.raises(ImportSourceForbidden):
            sources.check(url, caller)
        with pytest.raises(ImportSourceForbidden):
            sources.open(url, caller)
    assert recorder.requests == []

    # Inside the grant, object storage is asked (a HEAD before any byte): the recorder does see requests.
    own = f"https://object-store.kr-west1.e.samsungsdscloud.com/{caller}/granted/team/a.qcow2"
    sources.check(own, caller)
    assert recorder.requests == []
    with pytest.raises(ImportSourceRejected, match="does not exist"):
        sources.open(own, caller)
    assert recorder.requests[0] == ("HEAD", "/granted/team/a.qcow2")


def test_the_blob_bucket_cannot_be_granted_and_a_stray_row_is_hidden_from_the_tenant(
    parts: Components,
) -> None:
    caller = parts.accounts.create_account("caller").id
    for prefix in ("", "images", "images/images", "unrelated/"):
        with pytest.raises(InvalidSourceGrant, match="holds this service's image data"):
            parts.source_grants.grant(caller, BLOB_BUCKET, prefix)
    assert parts.source_grants.list_grants() == []
    with parts.db.transaction() as conn:
        grant_store.add_grant(conn, SourceGrant(caller, BLOB_BUCKET, ""), datetime.now(UTC))
    parts.source_grants.grant(caller, "granted")
    principal = Principal(caller, "caller", "u", "key")
    assert parts.source_grants.list_own(principal) == [SourceGrant(caller, "granted", "")]
    # the operator still sees the stray row, and can remove it
    assert SourceGrant(caller, BLOB_BUCKET, "") in parts.source_grants.list_grants(caller)
    parts.source_grants.revoke(caller, BLOB_BUCKET)
    assert parts.source_grants.list_grants(caller) == [SourceGrant(caller, "granted", "")]
