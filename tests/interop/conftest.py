"""A live server for Tempest: its own database (SQLite or PostgreSQL), an https mirror with a throw-away
CA the server trusts and allowlists (web-download's source), and the accounts Tempest signs in with."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from scp_images.app import source_config
from scp_images.config import Settings
from scp_images.imports.sources import SourceResolver
from tests.audit.helpers import run_admin
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


# (account, its keys' roles, extra options); Tempest's ``alt`` takes the first free non-admin entry of
# accounts.yaml, so the two single-member accounts come first and ``alt`` is never the primary's reader.
ACCOUNTS = (
    ("tempest-beta", ("member",), ()),
    ("tempest-gamma", ("member",), ()),
    ("tempest-alpha", ("member", "reader"), ()),
    ("tempest-operator", ("admin",), ("--operator",)),
)


def provision(settings: Settings) -> tuple[Credential, ...]:
    """A member and a reader in one account, members of two more, and an admin in an operator account,
    made with ``scp-images admin`` as an operator makes them (in-process: a subprocess each costs seconds
    on a loaded machine)."""

    def admin(*args: str) -> dict[str, str]:
        return json.loads(run_admin(settings, *args, "--json").stdout)  # type: ignore[no-any-return]

    made = []
    for name, roles, extra in ACCOUNTS:
        account_id = admin("account", "create", "--name", name, *extra)["id"]
        for role in roles:
            user = f"{name}-{role}@example.com"
            key = admin("key", "create", "--account", account_id, "--user", user, "--role", role)
            made.append(Credential(key["access_key"], key["secret_key"], name, role))
    return tuple(made)


@pytest.fixture
def tempest_target(tempest_stack: Stack, mirror: tuple[str, str]) -> Target:
    _, url = mirror
    region = tempest_stack.settings.region
    return Target(tempest_stack.base_url, region, url, provision(tempest_stack.settings))
