"""Keystone tokens and download links across real server processes on one database (an SQLite file,
PostgreSQL), with no SCP_IMAGES_TOKEN_SECRET set: the processes share the token secret the first start
generated (a token one issues verifies at the other), and what was issued before a key's disable stays
refused everywhere after the key is enabled again (Keystone keeps revoked tokens revoked)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from scp_images.app import build_components
from scp_images.config import Settings
from scp_images.domain.image import Visibility
from scp_images.services.data.ingest import PublishRequest
from tests.processes.conftest import StartServers, make_key, signed
from tests.support.process import ServerProcess
from tests.support.stack import Key
from tests.support.tools import wait_until


def _token(http: httpx.Client, server: ServerProcess, key: Key) -> httpx.Response:
    credential = {"id": key.access_key, "secret": key.secret_key}
    body = {
        "auth": {"identity": {"methods": ["application_credential"], "application_credential": credential}}
    }
    return http.post(f"{server.base_url}/identity/v3/auth/tokens", json=body)


def _images(http: httpx.Client, server: ServerProcess, token: str) -> int:
    return http.get(f"{server.base_url}/image/v2/images", headers={"X-Auth-Token": token}).status_code


def _link(http: httpx.Client, server: ServerProcess, key: Key, image_id: str) -> httpx.Response:
    path, headers = signed("POST", f"/v1/images/{image_id}/download-link", key)
    return http.post(server.base_url + path, headers=headers)


def _open(http: httpx.Client, server: ServerProcess, url: str) -> int:
    """A link (made for the public URL) opened at one server; the body is not read."""
    parts = urlsplit(url)
    with http.stream("GET", f"{server.base_url}{parts.path}?{parts.query}") as response:
        return response.status_code


def _publish(settings: Settings, key: Key, disk: Path) -> str:
    parts = build_components(settings)
    try:
        request = PublishRequest(str(disk), "linked", "ubuntu", key.account_id, Visibility.PRIVATE)
        return parts.ingest.publish_file(request).id
    finally:
        parts.close()


def _set_enabled(settings: Settings, key: Key, enabled: bool) -> None:
    """What ``scp-images admin key disable|enable`` does, from another process's components."""
    parts = build_components(settings)
    try:
        parts.accounts.set_key_enabled(key.access_key, enabled)
    finally:
        parts.close()


def _fresh_ones_work(http: httpx.Client, servers: list[ServerProcess], key: Key, image_id: str) -> bool:
    """A token and a link issued now by each server are accepted by every server."""
    for server in servers:
        issued, link = _token(http, server, key), _link(http, server, key, image_id)
        if issued.status_code != 201 or link.status_code != 200:
            return False
        token, url = issued.headers["X-Subject-Token"], link.json()["url"]
        if any(_images(http, other, token) != 200 or _open(http, other, url) != 200 for other in servers):
            return False
    return True


def test_servers_share_the_generated_secret_and_a_disable_revokes_for_good(
    shared_settings: Settings, start_servers: StartServers, make_qcow2: Callable[..., Path]
) -> None:
    assert shared_settings.token_secret is None
    servers = start_servers(shared_settings, 2)
    key = make_key(shared_settings)
    image_id = _publish(shared_settings, key, make_qcow2("linked.qcow2", "16M"))
    with httpx.Client(timeout=30, trust_env=False) as http:
        # Each server's tokens verify at the other: one secret for the deployment, none of them empty.
        tokens = []
        for server in servers:
            issued = _token(http, server, key)
            assert issued.status_code == 201, issued.text
            tokens.append(issued.headers["X-Subject-Token"])
        links = []
        for server in servers:
            answer = _link(http, server, key, image_id)
            assert answer.status_code == 200, answer.text
            links.append(answer.json()["url"])
        everywhere: list[tuple[Any, ...]] = [
            (check, server, what) for server in servers for check, what in ((_images, tokens), (_open, links))
        ]
        for check, server, issued_things in everywhere:
            assert all(check(http, server, thing) == 200 for thing in issued_things)

        _set_enabled(shared_settings, key, False)

        def all_refused() -> bool:
            return all(
                check(http, server, thing) == 401 for check, server, things in everywhere for thing in things
            )

        wait_until(all_refused, what="tokens and links refused at every server", timeout=30)
        _set_enabled(shared_settings, key, True)

        # Once each server sees the key enabled again (its key cache), new tokens and links work there...
        wait_until(
            lambda: _fresh_ones_work(http, servers, key, image_id),
            what="new tokens and links accepted everywhere",
            timeout=30,
        )
        # ...and those issued before the disable stay dead at every one of them.
        for check, server, issued_things in everywhere:
            assert [check(http, server, thing) for thing in issued_things] == [401, 401]
