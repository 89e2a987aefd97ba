"""A live server for Tempest: its own database (SQLite or PostgreSQL), an https mirror with a throw-away
CA the server trusts and allowlists (web-download's source), and the accounts Tempest signs in with."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from scp_images.app import source_config
from scp_images.config import Settings
from scp_images.imports.sources import SourceResolver
from tests.imports.helpers import start_image_server
from tests.imports.tls import make_ca
from tests.interop.tempest_run import Credential, Target
from tests.support.stack import Stack, start_stack

MIRROR = "mirror.test"  # resolved to 127.0.0.1 by the server's resolver only
IMAGE = "cirros.qcow2"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A token secret of the server's own, as a deployment has (docs/security.md)."""
    return settings.model_copy(update={"token_secret": SecretStr("tempest-token-secret")})


@pytest.fixture
def mirror(
    make_qcow2: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str]]:
    """(allowlist entry, image URL): a small qcow2 made with qemu-img on an https server whose
    certificate only the throw-away CA signs; the server trusts that CA through SSL_CERT_FILE."""
    data = make_qcow2(IMAGE, "16M").read_bytes()
    (tmp_path / "tls").mkdir()
    ca = make_ca(tmp_path / "tls", MIRROR)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    server, httpd = start_image_server({IMAGE: data}, tls=ca.server_context)
    try:
        yield f"{MIRROR}:{server.port}", server.url(f"/files/{IMAGE}", MIRROR)
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def tempest_stack(settings: Settings, mirror: tuple[str, str]) -> Iterator[Stack]:
    allowed, _ = mirror
    configured = settings.model_copy(
        update={"import_allowed_hosts": [allowed], "import_heartbeat_seconds": 0.2}
    )
    sources = SourceResolver(source_config(configured), resolve_host=lambda host: ["127.0.0.1"])
    stack = start_stack(configured, sources=sources)
    yield stack
    stack.stop()


def provision(stack: Stack) -> tuple[Credential, ...]:
    """A member and a reader in one account, members of two more, an admin in an operator account.

    Waits for roles (issue 20): until keys have roles, every key is a member key; the reader and the
    admin are members that Tempest only believes to be a reader and an admin."""
    accounts = stack.components.accounts

    def key(account_id: str, project: str, user: str, role: str) -> Credential:
        record = accounts.create_key(account_id, f"{user}@example.com", ())
        return Credential(record.access_key, record.secret_key, project, role)

    made = []
    for name, roles in (
        ("tempest-beta", ("member",)),
        ("tempest-gamma", ("member",)),
        ("tempest-alpha", ("member", "reader")),
        ("tempest-operator", ("admin",)),
    ):
        account = accounts.create_account(name)
        made += [key(account.id, name, f"{name}-{role}", role) for role in roles]
    return tuple(made)


@pytest.fixture
def tempest_target(tempest_stack: Stack, mirror: tuple[str, str]) -> Target:
    _, url = mirror
    region = tempest_stack.settings.region
    return Target(tempest_stack.base_url, region, url, provision(tempest_stack))
