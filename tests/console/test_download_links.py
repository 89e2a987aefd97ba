"""Download links over HTTP: a signed call gets a short-lived URL; using it streams the image with no SCP
headers, exactly as the download route would, and every right is checked again when it is used."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from scp_images.domain.image import ImageSpec, Visibility
from scp_images.domain.principal import Action
from scp_images.services.clock import system_clock
from scp_images.services.data.download_links import LINK_SECONDS, DownloadLinkService
from tests.api.helpers import publish
from tests.support.stack import Key, Stack
from tests.support.tools import wait_until


@pytest.fixture
def owner(stack: Stack) -> Key:
    return stack.new_account("owner")


@pytest.fixture
def disk(make_qcow2: Any) -> Path:
    return make_qcow2("linked.qcow2", "16M")  # type: ignore[no-any-return]


@pytest.fixture
def image(stack: Stack, owner: Key, disk: Path) -> dict[str, Any]:
    return publish(stack, disk, owner.account_id, "private", name="ubuntu 22 04")


def link_for(stack: Stack, key: Key, image_id: str) -> httpx.Response:
    return stack.request("POST", f"/v1/images/{image_id}/download-link", key, account_id=key.account_id)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["link"][0]


def unsigned(stack: Stack, url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, timeout=30, **kwargs)


def test_link_streams_the_image_without_scp_headers(
    stack: Stack, owner: Key, image: dict[str, Any], disk: Path
) -> None:
    answer = link_for(stack, owner, image["id"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"url", "expires_at"}
    assert body["url"].startswith(f"{stack.base_url}/v1/images/{image['id']}/download?link=")
    assert answer.headers["cache-control"] == "no-store"
    got = unsigned(stack, body["url"])
    assert got.status_code == 200
    assert got.content == disk.read_bytes()
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"ubuntu_22_04.qcow2\"; filename*=UTF-8''ubuntu%2022%2004.qcow2"
    )
    assert got.headers["content-md5"]
    assert got.headers["etag"] == f'"{hashlib.md5(disk.read_bytes()).hexdigest()}"'
    assert got.headers["cache-control"] == "no-store"
    assert got.headers["referrer-policy"] == "no-referrer"
    # the same answer as the signed download route, ranges included
    part = unsigned(stack, body["url"], headers={"Range": "bytes=10-19"})
    signed = stack.request("GET", f"/v2/images/{image['id']}/file", owner, headers={"Range": "bytes=10-19"})
    assert part.status_code == signed.status_code == 206
    assert part.content == signed.content == disk.read_bytes()[10:20]
    assert part.headers["content-range"] == signed.headers["content-range"]


def test_link_lifetime_is_short(stack: Stack, owner: Key, image: dict[str, Any]) -> None:
    body = link_for(stack, owner, image["id"]).json()
    expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    left = (expires - datetime.now(UTC)).total_seconds()
    assert LINK_SECONDS - 5 <= left <= LINK_SECONDS + 1


def service_at(stack: Stack, offset: timedelta) -> DownloadLinkService:
    return DownloadLinkService(
        stack.components.db, stack.components.images, clock=lambda: system_clock() + offset
    )


def principal_of(stack: Stack, key: Key) -> Any:
    return stack.components.accounts.list_keys(key.account_id)[0].principal()


def test_expired_and_overlong_links_are_refused(stack: Stack, owner: Key, image: dict[str, Any]) -> None:
    base = f"{stack.base_url}/v1/images/{image['id']}/download?link="
    old = service_at(stack, timedelta(seconds=-LINK_SECONDS - 5)).issue(
        principal_of(stack, owner), image["id"]
    )
    expired = unsigned(stack, base + old.token)
    assert expired.status_code == 401
    assert "expired" in expired.json()["errors"][0]["detail"]
    # a link made with a clock far ahead (or by hand, by the key's holder) lives too long: refused
    far = service_at(stack, timedelta(hours=1)).issue(principal_of(stack, owner), image["id"])
    overlong = unsigned(stack, base + far.token)
    assert overlong.status_code == 401
    assert "longer" in overlong.json()["errors"][0]["detail"]


def test_tampered_links_are_refused(stack: Stack, owner: Key, image: dict[str, Any], disk: Path) -> None:
    other = publish(stack, disk, owner.account_id, "private", name="other")
    url = link_for(stack, owner, image["id"]).json()["url"]
    token = token_of(url)
    payload, mac = token.split(".")
    flipped = mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB")
    cases = {
        "mac": f"{payload}.{flipped}",
        "garbage": "not-a-link",
        "empty": "",
        "huge": "a" * 5000 + "." + mac,
    }
    for name, bad in cases.items():
        got = unsigned(stack, f"{stack.base_url}/v1/images/{image['id']}/download?link={bad}")
        assert got.status_code == 401, name
        assert got.json()["errors"][0]["code"] == "virtualserver.auth.Unauthenticated"
    # a good link for one image opens no other image
    moved = unsigned(stack, f"{stack.base_url}/v1/images/{other['id']}/download?link={token}")
    assert moved.status_code == 401
    assert unsigned(stack, f"{stack.base_url}/v1/images/{image['id']}/download").status_code == 401
    twice = unsigned(stack, f"{url}&link={token}")
    assert twice.status_code == 401


def test_rights_are_checked_again_when_the_link_is_used(
    stack: Stack, owner: Key, image: dict[str, Any]
) -> None:
    member = stack.new_account("member")
    stack.request("POST", f"/v1/images/{image['id']}/share", owner, content=b"")
    added = stack.request(
        "POST", f"/v1/images/{image['id']}/members", owner, json={"member_id": member.account_id}
    )
    assert added.status_code == 200
    url = link_for(stack, member, image["id"]).json()["url"]
    assert unsigned(stack, url).status_code == 200
    # removed from the members: the same, unexpired link no longer opens the image
    removed = stack.request("DELETE", f"/v1/images/{image['id']}/members/{member.account_id}", owner)
    assert removed.status_code == 204
    assert unsigned(stack, url).status_code == 404
    # a disabled key ends every link it was given
    url = link_for(stack, owner, image["id"]).json()["url"]
    stack.components.accounts.set_key_enabled(owner.access_key, False)
    assert unsigned(stack, url).status_code == 401


def test_a_link_issued_before_a_disable_stays_dead_after_enable(
    stack: Stack, owner: Key, image: dict[str, Any]
) -> None:
    """Enabling the key again brings back no link it was given before the disable; new links work."""
    before = link_for(stack, owner, image["id"]).json()["url"]
    assert unsigned(stack, before).status_code == 200
    stack.components.accounts.set_key_enabled(owner.access_key, False)
    stack.components.accounts.set_key_enabled(owner.access_key, True)
    refused = unsigned(stack, before)
    assert refused.status_code == 401
    assert "revoked when its key was disabled" in refused.json()["errors"][0]["detail"]

    def a_new_link() -> httpx.Response:  # the server's key cache may hold the disabled key a moment
        return link_for(stack, owner, image["id"])

    fresh = wait_until(a_new_link, accept=lambda r: r.status_code == 200, what="a new link", timeout=10)
    assert unsigned(stack, fresh.json()["url"]).status_code == 200
    assert unsigned(stack, before).status_code == 401


def test_links_need_the_right_to_show_and_an_active_image(
    stack: Stack, owner: Key, image: dict[str, Any]
) -> None:
    stranger = stack.new_account("stranger")
    assert link_for(stack, stranger, image["id"]).status_code == 404
    denied = stack.new_account("denied", deny=(Action.SHOW_IMAGE,))
    assert link_for(stack, denied, image["id"]).status_code == 403
    principal = principal_of(stack, owner)
    queued = stack.components.images.create(
        principal, ImageSpec(name="empty", os_distro="ubuntu", url=None, visibility=Visibility.PRIVATE)
    )
    refused = link_for(stack, owner, queued.id)
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["code"] == "virtualserver.image.InvalidStatus"
    assert stack.request("POST", f"/v1/images/{image['id']}/download-link", None).status_code == 401
