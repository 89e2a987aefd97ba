"""The deployment's token secret with SCP_IMAGES_TOKEN_SECRET unset: generated at the first start and kept
in the database, never empty. A key holder who knows only its key pair cannot mint a token offline, even
with the empty secret an unset setting once meant; the setting, when set, overrides the stored secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import orjson
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from scp_images.app import build_components
from scp_images.config import Settings
from scp_images.services.access.auth import Authenticator
from scp_images.services.access.tokens import TokenService
from scp_images.store.sql.tables import server_secrets
from tests.openstack.conftest import token
from tests.support.stack import Stack, start_stack

_LABEL = b"scp-images keystone token v1"  # the token format's, as anyone reading the source knows it


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No SCP_IMAGES_TOKEN_SECRET: the deployment's own secret is used."""
    return settings.model_copy(update={"token_secret": None})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _minted_offline(payload: str, secret_key: str, server_secret: bytes = b"") -> str:
    """A token as a key holder would mint it from the key pair and a guess at the server's secret."""
    derived = hmac.new(secret_key.encode(), _LABEL + b"\0" + server_secret, hashlib.sha256).digest()
    return f"scp1.{payload}.{_b64(hmac.new(derived, payload.encode(), hashlib.sha256).digest())}"


def _images(stack: Stack, value: str) -> int:
    response = stack.http.get(f"{stack.base_url}/image/v2/images", headers={"X-Auth-Token": value})
    return response.status_code


def _stored(stack: Stack) -> list[str]:
    with stack.components.db.read() as conn:
        return list(conn.execute(select(server_secrets.c.secret)).scalars())


def test_a_token_minted_offline_with_an_empty_secret_is_refused(stack: Stack) -> None:
    key = stack.new_account("holder")
    issued = token(stack, key)
    assert _images(stack, issued) == 200
    # The server's own payload, MAC'd as an unset secret used to mean: refused.
    payload = issued.split(".")[1]
    assert _images(stack, _minted_offline(payload, key.secret_key)) == 401
    # Nor does a fresh one with the holder's own times and methods pass.
    now = int(time.time())
    claims = {"k": key.access_key, "i": now, "e": now + 600, "m": ["password"], "r": 0}
    assert _images(stack, _minted_offline(_b64(orjson.dumps(claims)), key.secret_key)) == 401


def test_the_secret_is_generated_once_stored_and_never_empty(stack: Stack, settings: Settings) -> None:
    (stored,) = _stored(stack)
    assert stack.components.token_secret == stored  # no encryption key: stored in the clear (warned)
    assert len(stored) >= 40
    # Another process of the deployment reads the same one; an empty setting is no setting.
    for other_settings in (settings, settings.model_copy(update={"token_secret": SecretStr("")})):
        other = build_components(other_settings)
        try:
            assert other.token_secret == stored
        finally:
            other.close()
    assert _stored(stack) == [stored]
    authenticator = Authenticator(stack.components.db, window_seconds=300)
    with pytest.raises(ValueError, match="never empty"):
        TokenService(authenticator, ttl_seconds=600, server_secret="")


def test_the_setting_overrides_the_stored_secret(settings: Settings) -> None:
    first = start_stack(settings)
    try:
        key = first.new_account("holder")
        under_stored = token(first, key)
        assert _images(first, under_stored) == 200
    finally:
        first.stop()
    configured = start_stack(settings.model_copy(update={"token_secret": SecretStr("configured-secret")}))
    try:
        assert configured.components.token_secret == "configured-secret"
        assert _images(configured, under_stored) == 401
        assert _images(configured, token(configured, key)) == 200
        payload = under_stored.split(".")[1]
        assert _images(configured, _minted_offline(payload, key.secret_key, b"configured-secret")) == 200
        assert _stored(configured) != ["configured-secret"]  # the stored one is kept, not replaced
    finally:
        configured.stop()
