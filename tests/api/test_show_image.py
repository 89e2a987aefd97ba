"""Show Image through the real server over HTTP: data, versions, signing styles and every refusal."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from scp_images.signing import compute_signature
from tests.api.helpers import admin, file_digests, import_image, publish
from tests.conftest import qemu_virtual_size
from tests.support.stack import Key, Stack
from tests.support.tools import wait_until

OFFICIAL_1_0_FIELDS = {
    "checksum",
    "container_format",
    "created_at",
    "disk_format",
    "file",
    "id",
    "min_disk",
    "min_ram",
    "name",
    "os_distro",
    "os_hash_algo",
    "os_hash_value",
    "os_hidden",
    "owner",
    "owner_account_name",
    "owner_user_name",
    "protected",
    "root_device_name",
    "scp_image_type",
    "scp_k8s_version",
    "scp_original_image_type",
    "scp_os_build_version",
    "scp_os_version",
    "size",
    "status",
    "updated_at",
    "url",
    "virtual_size",
    "visibility",
    "volumes",
}


@pytest.fixture
def owner(stack: Stack) -> Key:
    return stack.new_account("owner")


@pytest.fixture
def private_image(stack: Stack, owner: Key, make_qcow2: Any) -> tuple[dict[str, Any], Path]:
    path = make_qcow2("private.qcow2", "96M")
    return publish(stack, path, owner.account_id, "private"), path


@pytest.fixture
def cli_image(stack: Stack, owner: Key, make_qcow2: Any) -> tuple[dict[str, Any], Path]:
    path = make_qcow2("cli.qcow2", "96M")
    return import_image(stack.settings, path, owner.account_id, "--visibility", "private"), path


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    (item,) = body["errors"]
    assert item["status"] == status
    assert item["code"] and item["title"] and item["detail"]
    assert item["request_id"] == response.headers["x-request-id"]
    return item  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2", "1.3"])
def test_imported_qcow2_shows_exact_figures_in_every_version(
    stack: Stack, owner: Key, private_image: Any, version: str
) -> None:
    image, path = private_image
    md5, sha512, size = file_digests(path)
    response = stack.request("GET", f"/v1/images/{image['id']}", owner, version=version)
    assert response.status_code == 200, response.text
    body = response.json()
    expected_fields = OFFICIAL_1_0_FIELDS | ({"scp_gpu_driver"} if version in ("1.2", "1.3") else set())
    assert set(body) == expected_fields
    assert body["checksum"] == md5
    assert body["os_hash_algo"] == "sha512"
    assert body["os_hash_value"] == sha512
    assert body["size"] == size
    assert body["virtual_size"] == qemu_virtual_size(path) == 96 * 1024 * 1024
    assert body["status"] == "active"
    assert body["owner"] == owner.account_id
    assert body["file"] == f"/v2/images/{image['id']}/file"
    assert body["created_at"].endswith("Z") and "T" in body["created_at"]
    assert body["url"] is None and body["scp_k8s_version"] is None
    assert response.headers["x-request-id"].startswith("req-")


def test_admin_import_output_equals_show_1_3(stack: Stack, owner: Key, cli_image: Any) -> None:
    image, _ = cli_image
    shown = stack.request("GET", f"/v1/images/{image['id']}", owner, version="1.3").json()
    assert shown == image


def test_no_version_header_serves_current(stack: Stack, owner: Key, private_image: Any) -> None:
    image, _ = private_image
    body = stack.request("GET", f"/v1/images/{image['id']}", owner, version=None).json()
    assert "scp_gpu_driver" in body
    response = stack.request("GET", f"/v1/images/{image['id']}", owner, version="1.3")
    assert "Deprecation" not in response.headers


def test_deprecated_version_carries_deprecation_and_sunset(
    stack: Stack, owner: Key, private_image: Any
) -> None:
    image, _ = private_image
    response = stack.request("GET", f"/v1/images/{image['id']}", owner, version="1.0")
    assert response.headers["Sunset"] == "Wed, 31 Dec 2025 00:00:00 GMT"
    assert response.headers["Deprecation"].startswith("@")


def test_go_sdk_style_request(stack: Stack, owner: Key, private_image: Any) -> None:
    """Go: Scp-AccessKey, an always-present (here empty) Scp-AccountId, en-US, version 1.0."""
    image, _ = private_image
    url = f"{stack.base_url}/v1/images/{image['id']}"
    ts = str(int(time.time() * 1000))
    headers = {
        "Scp-API-Version": "virtualserver 1.0",
        "Accept": "application/json",
        "Scp-ClientType": "Openapi",
        "Accept-Language": "en-US",
        "Scp-AccountId": "",
        "Scp-AccessKey": owner.access_key,
        "Scp-Timestamp": ts,
        "Scp-Signature": compute_signature("GET", url, ts, owner.access_key, owner.secret_key, ""),
    }
    response = stack.http.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert set(response.json()) == OFFICIAL_1_0_FIELDS


def test_go_sdk_style_with_account_id(stack: Stack, owner: Key, private_image: Any) -> None:
    image, _ = private_image
    response = stack.request(
        "GET",
        f"/v1/images/{image['id']}",
        owner,
        account_id=owner.account_id,
        headers={"Scp-AccountId": owner.account_id},
    )
    assert response.status_code == 200, response.text


def test_scpv2_style_request_with_unencoded_query(stack: Stack, owner: Key, private_image: Any) -> None:
    """scpv2 signs the unencoded query and sends the quote_plus form; no Scp-AccountId; ko-KR."""
    image, _ = private_image
    path = f"/v1/images/{image['id']}"
    ts = str(int(time.time() * 1000))
    signed_url = f"{stack.base_url}{path}?note=my image:1"
    headers = {
        "Scp-Accesskey": owner.access_key,
        "Scp-Timestamp": ts,
        "Scp-ClientType": "Openapi",
        "Accept-Language": "ko-KR",
        "Scp-Api-Version": "virtualserver 1.3",
        "Scp-Signature": compute_signature("GET", signed_url, ts, owner.access_key, owner.secret_key),
    }
    response = stack.http.get(f"{stack.base_url}{path}?note=my+image%3A1", headers=headers)
    assert response.status_code == 200, response.text


def test_public_url_setting_is_a_signing_base(tmp_path: Path, database_url: str, make_qcow2: Any) -> None:
    from scp_images.config import Settings
    from tests.support.stack import start_stack

    public = "https://virtualserver.kr-west1.e.samsungsdscloud.com"
    settings = Settings(data_dir=tmp_path / "d", database_url=database_url, public_urls=[public])
    running = start_stack(settings)
    try:
        key = running.new_account("pub")
        image = publish(running, make_qcow2(), key.account_id)
        path = f"/v1/images/{image['id']}"
        ts = str(int(time.time() * 1000))
        headers = {
            "Scp-Accesskey": key.access_key,
            "Scp-Timestamp": ts,
            "Scp-ClientType": "Openapi",
            "Scp-Signature": compute_signature("GET", public + path, ts, key.access_key, key.secret_key),
        }
        assert running.http.get(running.base_url + path, headers=headers).status_code == 200
    finally:
        running.stop()


# --- 401 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["Scp-Accesskey", "Scp-Signature", "Scp-Timestamp", "Scp-ClientType"])
def test_missing_signing_header_is_401(stack: Stack, owner: Key, private_image: Any, missing: str) -> None:
    image, _ = private_image
    url = f"{stack.base_url}/v1/images/{image['id']}"
    ts = str(int(time.time() * 1000))
    headers = {
        "Scp-Accesskey": owner.access_key,
        "Scp-Timestamp": ts,
        "Scp-ClientType": "Openapi",
        "Scp-Signature": compute_signature("GET", url, ts, owner.access_key, owner.secret_key),
    }
    del headers[missing]
    item = _error(stack.http.get(url, headers=headers), 401)
    assert missing in item["detail"]


def test_unknown_key_bad_signature_and_disabled_key_are_one_401(
    stack: Stack, owner: Key, private_image: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The three bad credentials get the same detail (nothing tells a prober which keys exist or are
    disabled); the scp_images.auth log line names the reason, with the request id."""
    image, _ = private_image
    path = f"/v1/images/{image['id']}"
    ghost = Key("NOSUCHKEY1234567890", "secret", owner.account_id, "x")
    wrong = Key(owner.access_key, owner.secret_key + "x", owner.account_id, "x")
    with caplog.at_level(logging.INFO, logger="scp_images.auth"):
        unknown = stack.request("GET", path, ghost)
        bad_signature = stack.request("GET", path, wrong)
        admin(stack.settings, "key", "disable", owner.access_key)
        # a process may keep a key it looked up for SCP_IMAGES_KEY_CACHE_SECONDS (1 s by default)
        disabled = _eventually(lambda: stack.request("GET", path, owner), 401)
    details = {_error(r, 401)["detail"] for r in (unknown, bad_signature, disabled)}
    (detail,) = details
    assert detail.startswith(
        "The request could not be authenticated: the access key or the signature is not valid. "
    )
    reasons = {
        (r.auth_failure, r.access_key, r.request_id)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "scp_images.auth"
    }
    assert ("unknown_key", ghost.access_key, unknown.headers["x-request-id"]) in reasons
    assert ("bad_signature", owner.access_key, bad_signature.headers["x-request-id"]) in reasons
    assert ("disabled_key", owner.access_key, disabled.headers["x-request-id"]) in reasons
    admin(stack.settings, "key", "enable", owner.access_key)
    assert _eventually(lambda: stack.request("GET", path, owner), 200)


def _eventually(call: Callable[[], httpx.Response], status: int) -> httpx.Response:
    return wait_until(
        call, accept=lambda r: r.status_code == status, what=f"a {status}", timeout=15, interval=0.1
    )


@pytest.mark.parametrize("skew_ms", [-6 * 60 * 1000, 6 * 60 * 1000])
def test_stale_or_future_timestamp_is_401(stack: Stack, owner: Key, private_image: Any, skew_ms: int) -> None:
    image, _ = private_image
    url = f"{stack.base_url}/v1/images/{image['id']}"
    ts = str(int(time.time() * 1000) + skew_ms)
    headers = {
        "Scp-Accesskey": owner.access_key,
        "Scp-Timestamp": ts,
        "Scp-ClientType": "Openapi",
        "Scp-Signature": compute_signature("GET", url, ts, owner.access_key, owner.secret_key),
    }
    assert "time window" in _error(stack.http.get(url, headers=headers), 401)["detail"]


def test_error_detail_in_korean(stack: Stack, owner: Key, private_image: Any) -> None:
    image, _ = private_image
    ghost = Key("NOSUCHKEY1234567890", "secret", owner.account_id, "x")
    item = _error(
        stack.request("GET", f"/v1/images/{image['id']}", ghost, headers={"Accept-Language": "ko-KR"}), 401
    )
    assert "인증" in item["detail"]
    other = stack.new_account("other")
    item = _error(
        stack.request(
            "GET", f"/v1/images/{image['id']}", other, headers={"Accept-Language": "ko-KR,en-US;q=0.5"}
        ),
        404,
    )
    assert "찾을 수 없습니다" in item["detail"]


# --- 400 / 403 / 404 and the order of checks -------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["virtualserver 9.9", "virtualserver", "compute 1.0", "virtualserver 1.0.1"]
)
def test_bad_version_header_is_400(stack: Stack, owner: Key, private_image: Any, value: str) -> None:
    image, _ = private_image
    item = _error(
        stack.request(
            "GET", f"/v1/images/{image['id']}", owner, version=None, headers={"Scp-Api-Version": value}
        ),
        400,
    )
    assert "virtualserver 1.3" in item["detail"]


def test_unauthenticated_beats_bad_version(stack: Stack, private_image: Any) -> None:
    image, _ = private_image
    ghost = Key("NOSUCHKEY1234567890", "secret", "0" * 32, "x")
    _error(stack.request("GET", f"/v1/images/{image['id']}", ghost, version="7.7"), 401)


def test_non_uuid_id_is_400_and_unknown_is_404(stack: Stack, owner: Key) -> None:
    assert "UUID" in _error(stack.request("GET", "/v1/images/not-a-uuid", owner), 400)["detail"]
    _error(stack.request("GET", "/v1/images/70a599e0-31e7-49b7-b260-868f441e862b", owner), 404)


def test_denied_action_is_403_before_path_and_lookup(stack: Stack, private_image: Any) -> None:
    image, _ = private_image
    account = stack.components.accounts.create_account("limited")
    from scp_images.domain.principal import Action

    record = stack.components.accounts.create_key(account.id, "l@example.com", [Action.SHOW_IMAGE])
    key = Key(record.access_key, record.secret_key, account.id, record.user_name)
    for path in (
        f"/v1/images/{image['id']}",
        "/v1/images/not-a-uuid",
        "/v1/images/70a599e0-31e7-49b7-b260-868f441e862b",
    ):
        item = _error(stack.request("GET", path, key), 403)
        assert "virtualserver:ShowImage" in item["detail"]
    # the version is checked before the permission
    _error(stack.request("GET", f"/v1/images/{image['id']}", key, version="9.9"), 400)


def test_denied_action_via_admin_cli(stack: Stack, private_image: Any) -> None:
    from tests.api.helpers import admin_json

    image, _ = private_image
    account = admin_json(stack.settings, "account", "create", "--name", "cli-account")
    created = admin_json(
        stack.settings,
        "key",
        "create",
        "--account",
        account["id"],
        "--user",
        "u@example.com",
        "--deny",
        "virtualserver:ShowImage",
    )
    key = Key(created["access_key"], created["secret_key"], account["id"], created["user_name"])
    _error(stack.request("GET", f"/v1/images/{image['id']}", key), 403)


def test_account_id_header_must_match_the_key(stack: Stack, owner: Key, private_image: Any) -> None:
    image, _ = private_image
    other = "f" * 32
    _error(
        stack.request(
            "GET", f"/v1/images/{image['id']}", owner, account_id=other, headers={"Scp-AccountId": other}
        ),
        403,
    )


def test_private_image_of_another_account_is_404_public_is_visible(
    stack: Stack, owner: Key, make_qcow2: Any, private_image: Any
) -> None:
    image, _ = private_image
    stranger = stack.new_account("stranger")
    item = _error(stack.request("GET", f"/v1/images/{image['id']}", stranger), 404)
    assert image["id"] in item["detail"]
    public = publish(stack, make_qcow2("pub.qcow2"), owner.account_id, "public")
    assert stack.request("GET", f"/v1/images/{public['id']}", stranger).status_code == 200
    community = import_image(
        stack.settings, make_qcow2("c.qcow2"), owner.account_id, "--visibility", "community"
    )
    assert stack.request("GET", f"/v1/images/{community['id']}", stranger).status_code == 200


def test_version_discovery_needs_no_signature(stack: Stack) -> None:
    response = stack.http.get(stack.base_url + "/")
    assert response.status_code == 200
    versions = {v["id"]: v for v in response.json()["versions"]}
    assert versions["v1.3"]["status"] == "CURRENT"
    assert versions["v1.0"] == {
        "id": "v1.0",
        "links": [{"href": f"{stack.base_url}/v1", "rel": "self"}],
        "not_before": "2025-12-31",
        "status": "DEPRECATED",
    }
    assert response.headers["x-request-id"]


def test_unknown_route_uses_the_envelope(stack: Stack, owner: Key) -> None:
    _error(stack.request("GET", "/v1/nothing-here", owner), 404)


@pytest.mark.parametrize(("today", "expect_1_0"), [("2025-11-01", 200), ("2026-01-15", 400)])
def test_strict_sunset_refuses_versions_past_their_date(
    tmp_path: Path, database_url: str, make_qcow2: Any, today: str, expect_1_0: int
) -> None:
    from datetime import date

    from scp_images.config import Settings
    from tests.support.stack import start_stack

    settings = Settings(data_dir=tmp_path / "d", database_url=database_url, strict_sunset=True)
    running = start_stack(settings, today=lambda: date.fromisoformat(today))
    try:
        key = running.new_account("sunset")
        image = publish(running, make_qcow2(), key.account_id)
        response = running.request("GET", f"/v1/images/{image['id']}", key, version="1.0")
        assert response.status_code == expect_1_0
        if expect_1_0 == 400:
            assert "2025-12-31" in response.json()["errors"][0]["detail"]
        assert running.request("GET", f"/v1/images/{image['id']}", key, version="1.3").status_code == 200
    finally:
        running.stop()
