"""A presigned https URL: imported with no service credential, its query values redacted wherever shown.

The source is a real TLS server on loopback (a throw-away CA trusted through ``SSL_CERT_FILE``) that
records every request's headers; the service has S3 credentials configured all along.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from scp_images.config import Settings
from scp_images.store.sql.tables import image_imports
from tests.api.helpers import file_digests, wait_status
from tests.imports.helpers import ImageServer, start_image_server
from tests.imports.test_https_source import assert_no_credentials
from tests.imports.tls import make_ca
from tests.support.stack import Key, Stack, start_stack

SERVICE_KEY, SERVICE_SECRET = "AKIDSERVICEKEY", "service-secret-value"
SIGNATURE = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
CREDENTIAL = "AKIAIOSFODNN7EXAMPLE%2F20261201%2Fs3"
# Short enough for SCP's 255-character url; Import needs the URL to end in .qcow2, hence the last one.
QUERY = f"X-Amz-Credential={CREDENTIAL}&X-Amz-Expires=3600&X-Amz-Signature={SIGNATURE}&name=disk.qcow2"
SHOWN_QUERY = "X-Amz-Credential=REDACTED&X-Amz-Expires=REDACTED&X-Amz-Signature=REDACTED&name=REDACTED"
SECRETS = (SIGNATURE, CREDENTIAL, "AKIAIOSFODNN7EXAMPLE")


@pytest.fixture
def disk(make_qcow2: Any) -> Path:
    path: Path = make_qcow2("disk.qcow2", "8M")
    return path


@pytest.fixture
def mirror(tmp_path: Path, disk: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImageServer]:
    (tmp_path / "tls").mkdir()
    ca = make_ca(tmp_path / "tls", "localhost")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    server, httpd = start_image_server({"disk.qcow2": disk.read_bytes()}, tls=ca.server_context)
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def presigned_stack(settings: Settings, s3_endpoint: str, mirror: ImageServer) -> Iterator[Stack]:
    configured = settings.model_copy(
        update={
            "import_allowed_hosts": [f"localhost:{mirror.port}"],
            "s3_endpoint_url": s3_endpoint,
            "s3_access_key_id": SERVICE_KEY,
            "s3_secret_access_key": SERVICE_SECRET,
            "s3_region": "us-east-1",
            "import_heartbeat_seconds": 0.2,
        }
    )
    running = start_stack(configured)
    yield running
    running.stop()


def job_url(stack: Stack, image_id: str) -> str:
    with stack.components.db.read() as conn:
        query = select(image_imports.c.url).where(image_imports.c.image_id == image_id)
        return str(conn.execute(query).scalar_one())


def shown_urls(stack: Stack, key: Key, image_id: str) -> list[str]:
    """The URL as Show (1.0 and 1.3), List and the import status resource give it."""
    path = f"/v1/images/{image_id}"
    listed = stack.request("GET", "/v1/images", key).json()["images"]
    return [
        stack.request("GET", path, key).json()["url"],
        stack.request("GET", path, key, version="1.0").json()["url"],
        next(image["url"] for image in listed if image["id"] == image_id),
        stack.request("GET", f"{path}/import", key).json()["url"],
    ]


def test_a_presigned_url_is_imported_whole_and_shown_redacted(
    presigned_stack: Stack, mirror: ImageServer, disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stack = presigned_stack
    caplog.set_level(logging.INFO)
    key = stack.new_account("owner")  # no grant: an allowlisted https URL needs none
    url = mirror.url(f"/files/disk.qcow2?{QUERY}#fragment-token", "localhost")
    shown = mirror.url(f"/files/disk.qcow2?{SHOWN_QUERY}#REDACTED", "localhost")
    mirror.log.clear()

    created = stack.request("POST", "/v1/images", key, json={"name": "p", "os_distro": "ubuntu", "url": url})
    assert created.status_code == 200, created.text
    assert created.json()["url"] == shown
    image_id = created.json()["id"]
    done = wait_status(stack, key, image_id, "active", "killed")
    md5, _, size = file_digests(disk)
    assert (done["status"], done["checksum"], done["size"]) == ("active", md5, size)

    assert shown_urls(stack, key, image_id) == [shown] * 4
    assert job_url(stack, image_id) == url  # the worker's copy is whole
    assert mirror.log.paths() == [f"/files/disk.qcow2?{QUERY}"]  # and the signature reached the source
    assert_no_credentials(mirror, (SERVICE_KEY, SERVICE_SECRET))

    messages = [record.getMessage() for record in caplog.records]
    # The runner's line names the image; httpx's request line names the URL, redacted.
    assert f"import of image {image_id} started (attempt 1)" in messages
    assert any(m.startswith("HTTP Request: GET ") and SHOWN_QUERY in m for m in messages), messages
    assert not [message for message in messages if any(secret in message for secret in SECRETS)]
    assert not [message for message in messages if "fragment-token" in message]


def test_a_presigned_url_given_to_import_is_redacted_too(
    presigned_stack: Stack, mirror: ImageServer, caplog: pytest.LogCaptureFixture
) -> None:
    stack = presigned_stack
    caplog.set_level(logging.INFO)
    key = stack.new_account("owner")
    body = {"name": "later", "os_distro": "ubuntu"}
    image_id = stack.request("POST", "/v1/images", key, params={"source": "upload"}, json=body).json()["id"]
    url = mirror.url(f"/files/disk.qcow2?{QUERY}", "localhost")
    started = stack.request("POST", f"/v1/images/{image_id}/import", key, json={"url": url})
    assert started.status_code == 202, started.text
    assert wait_status(stack, key, image_id, "active", "killed")["status"] == "active"
    shown = mirror.url(f"/files/disk.qcow2?{SHOWN_QUERY}", "localhost")
    assert shown_urls(stack, key, image_id) == [shown] * 4
    assert job_url(stack, image_id) == url
    assert not [r for r in caplog.records if any(secret in r.getMessage() for secret in SECRETS)]
