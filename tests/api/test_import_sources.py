"""Tenant isolation of import sources over HTTP, with the S3 blob store sharing the source credential.

Every account reads object storage through one service credential that can read every bucket used here,
the blob store's included; only grants decide. Runs on SQLite and PostgreSQL against moto.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from scp_images.config import Settings
from scp_images.domain.principal import Action
from scp_images.domain.sources import SourceGrant
from scp_images.store.sql import grants as grant_store
from scp_images.store.sql.tables import accounts, image_imports, images
from tests.api.conftest import s3_settings
from tests.api.helpers import file_digests, wait_status
from tests.support.stack import Key, Stack, start_stack

FORBIDDEN = "virtualserver.image.ImportSourceForbidden"
OBJECT_STORE = "https://object-store.kr-west1.e.samsungsdscloud.com"


def new_bucket(s3: Any, kind: str) -> str:
    bucket = f"{kind}-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def blob_bucket(s3: Any) -> str:
    return new_bucket(s3, "blobs")


def tenant_settings(settings: Settings, endpoint: str, blob_bucket: str, **more: Any) -> Settings:
    return s3_settings(settings, endpoint, blob_url=f"s3://{blob_bucket}/images", **more)


@pytest.fixture
def tenant_stack(settings: Settings, s3_endpoint: str, blob_bucket: str) -> Iterator[Stack]:
    running = start_stack(tenant_settings(settings, s3_endpoint, blob_bucket))
    yield running
    running.stop()


@pytest.fixture
def idle_stack(settings: Settings, s3_endpoint: str, blob_bucket: str) -> Iterator[Stack]:
    """No import runner: jobs wait until a test runs the runner itself."""
    running = start_stack(tenant_settings(settings, s3_endpoint, blob_bucket, run_import_jobs=False))
    yield running
    running.stop()


def create(stack: Stack, key: Key, url: str, language: str = "en-US") -> Any:
    body = {"name": "disk", "os_distro": "ubuntu", "url": url}
    return stack.request("POST", "/v1/images", key, json=body, headers={"Accept-Language": language})


def start_import(stack: Stack, key: Key, image_id: str, url: str, language: str = "en-US") -> Any:
    path = f"/v1/images/{image_id}/import"
    return stack.request("POST", path, key, json={"url": url}, headers={"Accept-Language": language})


def queued_for_upload(stack: Stack, key: Key) -> str:
    body = {"name": "later", "os_distro": "ubuntu"}
    response = stack.request("POST", "/v1/images", key, params={"source": "upload"}, json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def counts(stack: Stack) -> tuple[int, int]:
    with stack.components.db.read() as conn:
        rows = conn.execute(select(func.count()).select_from(images)).scalar_one()
        jobs = conn.execute(select(func.count()).select_from(image_imports)).scalar_one()
    return int(rows), int(jobs)


def stray_grant(stack: Stack, key: Key, bucket: str) -> None:
    """A grant row written behind the service's back (the service itself refuses to write it)."""
    with stack.components.db.transaction() as conn:
        grant_store.add_grant(conn, SourceGrant(key.account_id, bucket, ""), datetime.now(UTC))


def assert_forbidden(response: Any) -> dict[str, Any]:
    assert response.status_code == 403, response.text
    error: dict[str, Any] = response.json()["errors"][0]
    assert (error["status"], error["code"], error["title"]) == (403, FORBIDDEN, "Forbidden")
    return error


def without_request_id(response: Any) -> dict[str, Any]:
    error = dict(response.json()["errors"][0])
    error.pop("request_id")
    return error


# --- the issue's three URLs -------------------------------------------------------------------------------


def test_the_issue_urls_are_refused_for_another_account(
    tenant_stack: Stack, s3: Any, blob_bucket: str, make_qcow2: Any
) -> None:
    stack = tenant_stack
    src, b_bucket = new_bucket(s3, "src"), new_bucket(s3, "b-own")
    a, b = stack.new_account("a"), stack.new_account("b")
    stack.grant(a, src, "a")
    stack.grant(b, b_bucket)
    path = make_qcow2("private.qcow2", "16M")
    s3.upload_file(str(path), src, "a/private.qcow2")
    s3.upload_file(str(path), b_bucket, "b/own.qcow2")
    a_image = create(stack, a, f"s3://{src}/a/private.qcow2").json()
    assert wait_status(stack, a, a_image["id"], "active", "killed")["status"] == "active"
    # The object holding A's image, as it lies in the blob store's bucket (prefix "images/").
    listed = s3.list_objects_v2(Bucket=blob_bucket, Prefix=f"images/images/{a_image['id']}/")["Contents"]
    (a_blob,) = [item["Key"] for item in listed]
    before = counts(stack)

    for url in (
        f"s3://{blob_bucket}/{a_blob}",
        f"s3://{src}/a/private.qcow2",
        f"{OBJECT_STORE}/{a.account_id}/{src}/a/private.qcow2",
    ):
        assert_forbidden(create(stack, b, url))
    assert counts(stack) == before  # no image row, no job

    # B's own granted bucket still imports to active, for B, with the file's exact figures.
    own = create(stack, b, f"{OBJECT_STORE}/{b.account_id}/{b_bucket}/b/own.qcow2")
    assert own.status_code == 200, own.text
    done = wait_status(stack, b, own.json()["id"], "active", "killed")
    md5, sha512, size = file_digests(path)
    assert (done["status"], done["owner"], done["checksum"], done["size"]) == (
        "active",
        b.account_id,
        md5,
        size,
    )
    assert done["os_hash_value"] == sha512


# --- each refusal, at create and at import, in both languages ----------------------------------------------


def refusal_cases(stack: Stack, s3: Any, blob_bucket: str, caller: Key) -> list[tuple[str, str, str]]:
    """(url, English detail, Korean detail) for each way a well-formed URL can be out of bounds."""
    src = new_bucket(s3, "src")
    other = stack.new_account("other")
    stack.grant(caller, src, "team/a")
    stack.grant(other, src)
    en = "This account may not import s3://{0}/{1}: no import source grant of the account covers it. " + (
        "Ask the operator to grant the bucket ('scp-images admin source grant'), or upload the file instead."
    )
    ko = (
        "이 계정은 s3://{0}/{1}을(를) 가져올 수 없습니다: 이 계정의 가져오기 소스 권한 중 이를 포함하는 것이 "
        "없습니다. 운영자에게 버킷 권한을 요청하거나('scp-images admin source grant') 파일을 직접 "
        "업로드하십시오."
    )
    other_en = (
        f"This account may not import from the SCP Object Storage of account {other.account_id}: "
        "an Object Storage URL must name the caller's own account. Use a URL of your own account's "
        "Object Storage, or upload the file instead."
    )
    other_ko = (
        f"이 계정은 계정 {other.account_id}의 SCP Object Storage에서 가져올 수 없습니다: "
        "Object Storage URL에는 호출한 계정 자신의 계정이 있어야 합니다. 자기 계정의 Object Storage URL을 "
        "쓰거나 파일을 직접 업로드하십시오."
    )
    ungranted = new_bucket(s3, "ungranted")
    cases = [
        (ungranted, "team/a/x.qcow2"),  # a bucket the caller was never given
        (src, "team/ab/x.qcow2"),  # prefix team/a covers team/a/…, not team/ab/…
        (src, "team/x.qcow2"),
        (blob_bucket, "images/x/y.qcow2"),  # the blob store, without a grant row
    ]
    refused = [(f"s3://{b}/{k}", en.format(b, k), ko.format(b, k)) for b, k in cases]
    refused.append((f"{OBJECT_STORE}/{other.account_id}/{src}/team/a/x.qcow2", other_en, other_ko))
    own_ungranted = f"{OBJECT_STORE}/{caller.account_id}/{ungranted}/team/a/x.qcow2"
    refused.append(
        (own_ungranted, en.format(ungranted, "team/a/x.qcow2"), ko.format(ungranted, "team/a/x.qcow2"))
    )
    return refused


def test_refused_at_create_in_english_and_korean_leaving_nothing(
    tenant_stack: Stack, s3: Any, blob_bucket: str
) -> None:
    stack = tenant_stack
    caller = stack.new_account("caller")
    cases = refusal_cases(stack, s3, blob_bucket, caller)
    before = counts(stack)
    for url, english, korean in cases:
        assert assert_forbidden(create(stack, caller, url))["detail"] == english, url
        assert assert_forbidden(create(stack, caller, url, "ko-KR"))["detail"] == korean, url
    stray_grant(stack, caller, blob_bucket)  # even a grant row does not open the blob store
    blob_url, english, korean = cases[3]
    assert assert_forbidden(create(stack, caller, blob_url))["detail"] == english
    assert assert_forbidden(create(stack, caller, blob_url, "ko-KR"))["detail"] == korean
    assert counts(stack) == before


def test_refused_at_import_leaving_the_image_as_it_was(
    tenant_stack: Stack, s3: Any, blob_bucket: str
) -> None:
    stack = tenant_stack
    caller = stack.new_account("caller")
    cases = refusal_cases(stack, s3, blob_bucket, caller)
    image_id = queued_for_upload(stack, caller)
    before = counts(stack)
    stray_grant(stack, caller, blob_bucket)
    for url, english, korean in cases:
        assert assert_forbidden(start_import(stack, caller, image_id, url))["detail"] == english, url
        assert assert_forbidden(start_import(stack, caller, image_id, url, "ko-KR"))["detail"] == korean
    shown = stack.request("GET", f"/v1/images/{image_id}", caller).json()
    assert (shown["status"], shown["url"]) == ("queued", None)
    assert counts(stack) == before  # no job written
    assert stack.request("GET", f"/v1/images/{image_id}/import", caller).status_code == 404


def test_malformed_unsupported_and_unlisted_urls_stay_400(tenant_stack: Stack) -> None:
    caller = tenant_stack.new_account("caller")
    image_id = queued_for_upload(tenant_stack, caller)
    malformed = (
        "s3://b/k.qcow2",  # not a bucket name
        "ftp://h/x.qcow2",
        "http://plain.example.com/x.qcow2",
        "https://not-allowlisted.example.com/x.qcow2",
        f"{OBJECT_STORE}/not-an-account/bucket/x.qcow2",
    )
    for url in malformed:
        for response in (
            create(tenant_stack, caller, url),
            start_import(tenant_stack, caller, image_id, url),
        ):
            assert response.status_code == 400, (url, response.text)
            assert response.json()["errors"][0]["code"] == "virtualserver.image.ImportSourceRejected"


def test_the_answer_is_the_same_whether_or_not_the_object_exists(
    tenant_stack: Stack, s3: Any, blob_bucket: str, make_qcow2: Any
) -> None:
    """The same URL is refused identically (status, code, title, detail) before and after its object
    is removed: the decision never looks at object storage."""
    stack = tenant_stack
    src = new_bucket(s3, "src")
    a, b = stack.new_account("a"), stack.new_account("b")
    stack.grant(a, src)
    path = make_qcow2("private.qcow2", "8M")
    targets = [
        (src, "a/private.qcow2", f"s3://{src}/a/private.qcow2"),
        (src, "a/private.qcow2", f"{OBJECT_STORE}/{a.account_id}/{src}/a/private.qcow2"),
        (blob_bucket, "images/planted", f"s3://{blob_bucket}/images/planted"),
    ]
    stray_grant(stack, b, blob_bucket)
    for bucket, key, url in targets:
        s3.upload_file(str(path), bucket, key)
        present = [create(stack, b, url, language) for language in ("en-US", "ko-KR")]
        s3.delete_object(Bucket=bucket, Key=key)
        absent = [create(stack, b, url, language) for language in ("en-US", "ko-KR")]
        for there, gone in zip(present, absent, strict=True):
            assert_forbidden(there)
            assert without_request_id(there) == without_request_id(gone)
            assert there.headers.get("content-length") == gone.headers.get("content-length")


# --- a grant revoked before the job starts ------------------------------------------------------------------


def test_a_grant_revoked_before_the_job_starts_kills_the_import(
    idle_stack: Stack, s3: Any, make_qcow2: Any
) -> None:
    stack = idle_stack
    src = new_bucket(s3, "src")
    owner = stack.new_account("owner")
    stack.grant(owner, src, "revoked")
    stack.grant(owner, src, "kept")
    path = make_qcow2("disk.qcow2", "8M")
    s3.upload_file(str(path), src, "revoked/disk.qcow2")
    s3.upload_file(str(path), src, "kept/disk.qcow2")
    doomed = create(stack, owner, f"s3://{src}/revoked/disk.qcow2").json()["id"]
    kept = create(stack, owner, f"s3://{src}/kept/disk.qcow2").json()["id"]
    stack.components.source_grants.revoke(owner.account_id, src, "revoked/")  # "revoked/" is "revoked"

    runner = stack.components.runner
    assert runner.run_once() and runner.run_once()
    assert not runner.run_once()

    killed = stack.request("GET", f"/v1/images/{doomed}", owner).json()
    record = stack.request("GET", f"/v1/images/{doomed}/import", owner).json()
    assert (killed["status"], record["status"]) == ("killed", "failed")
    assert record["reason"] == (
        f"source_forbidden: This account may not import s3://{src}/revoked/disk.qcow2: no import source "
        "grant of the account covers it. Ask the operator to grant the bucket, or upload the file instead."
    )
    assert record["bytes_read"] == 0 and record["bytes_total"] is None  # nothing was opened
    assert stack.request("GET", f"/v1/images/{kept}", owner).json()["status"] == "active"


# --- GET /v1/import-sources --------------------------------------------------------------------------------


def test_import_sources_lists_only_the_callers_usable_grants(tenant_stack: Stack, blob_bucket: str) -> None:
    stack = tenant_stack
    a, b, c = stack.new_account("a"), stack.new_account("b"), stack.new_account("c")
    stack.grant(a, "src-bucket", "team/a/")
    stack.grant(a, "another-bucket")
    stack.grant(b, "src-bucket", "team/b")
    stray_grant(stack, a, blob_bucket)  # never usable, so never shown to the tenant
    listed = stack.request("GET", "/v1/import-sources", a)
    assert listed.status_code == 200, listed.text
    assert listed.json() == {
        "import_sources": [
            {"account_id": a.account_id, "bucket": "another-bucket", "prefix": ""},
            {"account_id": a.account_id, "bucket": "src-bucket", "prefix": "team/a"},
        ]
    }
    assert stack.request("GET", "/v1/import-sources", b).json()["import_sources"] == [
        {"account_id": b.account_id, "bucket": "src-bucket", "prefix": "team/b"}
    ]
    assert stack.request("GET", "/v1/import-sources", c).json() == {"import_sources": []}


def test_import_sources_goes_through_the_guard(tenant_stack: Stack) -> None:
    stack = tenant_stack
    denied = stack.new_account("narrow", deny=(Action.LIST_IMPORT_SOURCES,))
    unsigned = stack.request("GET", "/v1/import-sources", None)
    assert unsigned.status_code == 401
    refused = stack.request("GET", "/v1/import-sources", denied)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "virtualserver.auth.Forbidden"
    bad_version = stack.request("GET", "/v1/import-sources", denied, version="9.9")
    assert bad_version.status_code == 400  # the version is checked before the permission
    assert stack.request("POST", "/v1/import-sources", denied).status_code == 405


def test_deleting_an_account_removes_its_grants(tenant_stack: Stack) -> None:
    """Grants hang off the account (ON DELETE CASCADE), so a recycled id starts with none."""
    stack = tenant_stack
    gone = stack.new_account("gone")
    stack.grant(gone, "src-bucket")
    with stack.components.db.transaction() as conn:
        conn.execute(delete(accounts).where(accounts.c.id == gone.account_id))
    assert stack.components.source_grants.list_grants(gone.account_id) == []
