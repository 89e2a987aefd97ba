"""A real server on a loopback port, with its own database and blob store, for tests over HTTP."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import uvicorn

from scp_images.app import Components, build_components, create_app, server_metrics
from scp_images.client import Client
from scp_images.config import Settings
from scp_images.domain.principal import Role
from scp_images.signing import sign_request
from tests.support.tools import wait_until

STARTUP_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Key:
    access_key: str
    secret_key: str
    account_id: str
    user_name: str
    role: Role = Role.MEMBER


@dataclass
class Stack:
    settings: Settings
    components: Components
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def new_account(
        self,
        name: str = "acct",
        deny: tuple[Any, ...] = (),
        account_id: str | None = None,
        *,
        role: Role = Role.MEMBER,
        operator: bool = False,
    ) -> Key:
        """A new account with one key of ``role``; ``operator`` marks it an operator account (which
        ``role=Role.ADMIN`` needs: ``stack.new_account("ops", role=Role.ADMIN, operator=True)``)."""
        account = self.components.accounts.create_account(name, account_id, operator=operator)
        return self.new_key(account.id, role=role, deny=deny, user=f"{name}@example.com")

    def new_key(
        self,
        account_id: str,
        *,
        role: Role = Role.MEMBER,
        deny: tuple[Any, ...] = (),
        user: str | None = None,
    ) -> Key:
        """One more key of ``role`` in an existing account (e.g. a reader beside a member:
        ``stack.new_key(member.account_id, role=Role.READER)``)."""
        user = user or f"{role.value}-{account_id[:8]}@example.com"
        record = self.components.accounts.create_key(account_id, user, deny, role=role)
        return Key(record.access_key, record.secret_key, account_id, record.user_name, record.role)

    def set_role(self, key: Key, role: Role) -> Key:
        """What ``scp-images admin key set KEY --role ROLE`` does, in-process."""
        self.components.accounts.set_key_role(key.access_key, role)
        return Key(key.access_key, key.secret_key, key.account_id, key.user_name, role)

    def grant(self, key: Key, bucket: str, prefix: str = "") -> None:
        """What ``scp-images admin source grant`` does, in-process: ``key``'s account may import from
        ``bucket`` (under ``prefix``)."""
        self.components.source_grants.grant(key.account_id, bucket, prefix)

    def client(self, key: Key, **kwargs: Any) -> Client:
        return Client(self.base_url, key.access_key, key.secret_key, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        key: Key | None,
        *,
        headers: dict[str, str] | None = None,
        version: str | None = "1.3",
        account_id: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """A request signed like the Go SDK (the wire URL), with an optional version header."""
        params = kwargs.pop("params", None)
        url = httpx.URL(self.base_url + path, params=params) if params else httpx.URL(self.base_url + path)
        all_headers = {"Accept-Language": "en-US"}
        if version is not None:
            all_headers["Scp-Api-Version"] = f"virtualserver {version}"
        if key is not None:
            all_headers.update(
                sign_request(method, str(url), key.access_key, key.secret_key, account_id).as_dict()
            )
        all_headers.update(headers or {})
        return self.http.request(method, url, headers=all_headers, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.http.close()
        self.components.close()


def start_stack(
    settings: Settings,
    *,
    today: Callable[[], date] | None = None,
    now_ms: Callable[[], float] | None = None,
    **parts: Any,
) -> Stack:
    """``parts`` are ``build_components``'s own (``clock``, ``blobs``, ``sources``): a test wraps or
    replaces one of the server's parts."""
    components = build_components(settings, metrics=server_metrics(), **parts)
    extra: dict[str, Any] = {}
    if today is not None:
        extra["today"] = today
    app = create_app(settings, components=components, now_ms=now_ms, **extra)
    # The socket is bound here and handed to uvicorn (which then owns it): no other process can take the
    # port between choosing it and binding it.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: server.started,
            what="the test server",
            timeout=STARTUP_SECONDS,
            alive=lambda: None if thread.is_alive() else "its thread ended",
            interval=0.01,
        )
    except Exception:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        components.close()
        raise
    return Stack(settings, components, f"http://127.0.0.1:{port}", server, thread)
