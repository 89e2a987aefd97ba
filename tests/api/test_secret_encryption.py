"""Access-key secrets encrypted at rest (SCP_IMAGES_SECRET_ENCRYPTION_KEY): no plain secret in the
database, signed requests still work, plain rows from before keep working, rotation with two keys and
``admin key reencrypt``, and a wrong key is one clear start-up error, not a 401 or 500 per request."""

from __future__ import annotations

import logging
import subprocess
import time
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select

from scp_images.app import build_components
from scp_images.cli.server import _start
from scp_images.config import Settings
from scp_images.services.access.secrets import PREFIX, SecretCipher, SecretKeyError, SecretUnreadable
from scp_images.store.sql.tables import access_keys, server_secrets
from tests.api.helpers import SCP_IMAGES, cli_env, publish
from tests.support.stack import Key, Stack, start_stack

A, B, C = (Fernet.generate_key().decode() for _ in range(3))


def _with_keys(settings: Settings, keys: str | None) -> Settings:
    return settings.model_copy(update={"secret_encryption_key": SecretStr(keys) if keys else None})


def _stored(stack: Stack) -> dict[str, str]:
    with stack.components.db.transaction() as conn:
        rows = conn.execute(select(access_keys.c.access_key, access_keys.c.secret_key))
        return {r.access_key: r.secret_key for r in rows}


def _token_secret_stored(stack: Stack) -> str:
    with stack.components.db.transaction() as conn:
        return str(conn.execute(select(server_secrets.c.secret)).scalar_one())


def _works(stack: Stack, key: Key) -> bool:
    return stack.request("GET", "/v1/images", key).status_code == 200


def _reencrypt(settings: Settings, keys: str) -> subprocess.CompletedProcess[str]:
    env = {**cli_env(settings), "SCP_IMAGES_SECRET_ENCRYPTION_KEY": keys}
    return subprocess.run(
        [*SCP_IMAGES, "admin", "key", "reencrypt", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_secrets_are_stored_encrypted_and_signed_requests_work(settings: Settings) -> None:
    stack = start_stack(_with_keys(settings, A))
    try:
        key = stack.new_account("enc")
        stored = _stored(stack)[key.access_key]
        assert stored.startswith(PREFIX) and key.secret_key not in stored
        assert Fernet(A.encode()).decrypt(stored[len(PREFIX) :].encode()).decode() == key.secret_key
        assert _works(stack, key)
        wrong = Key(key.access_key, key.secret_key + "x", key.account_id, key.user_name)
        assert stack.request("GET", "/v1/images", wrong).status_code == 401
    finally:
        stack.stop()


def test_plain_rows_keep_working_and_rotation_with_two_keys(settings: Settings) -> None:
    plain = start_stack(settings)
    try:
        old = plain.new_account("old")  # written before encryption was turned on
    finally:
        plain.stop()
    first = start_stack(_with_keys(settings, A))
    try:
        under_a = first.new_account("a")
        assert _works(first, old) and _works(first, under_a)
        assert not _stored(first)[old.access_key].startswith(PREFIX)
    finally:
        first.stop()
    result = _reencrypt(settings, A)
    assert result.returncode == 0, result.stderr
    # the old key's secret and the token secret (generated plain at the first start); under_a's was sealed
    assert '"reencrypted": 2' in result.stdout and '"unchanged": 1' in result.stdout
    # rotation: the new key first, the old one still listed to decrypt
    rotating = start_stack(_with_keys(settings, f"{B},{A}"))
    try:
        under_b = rotating.new_account("b")
        assert all(_works(rotating, k) for k in (old, under_a, under_b))
    finally:
        rotating.stop()
    result = _reencrypt(settings, f"{B},{A}")
    assert result.returncode == 0, result.stderr
    assert '"reencrypted": 3' in result.stdout and '"unchanged": 1' in result.stdout
    rotated = start_stack(_with_keys(settings, B))  # the old key is gone now: B alone reads everything
    try:
        stored = _stored(rotated)
        assert all(v.startswith(PREFIX) for v in stored.values())
        assert _token_secret_stored(rotated).startswith(PREFIX)
        assert all(k.secret_key not in stored[k.access_key] for k in (old, under_a, under_b))
        assert all(_works(rotated, k) for k in (old, under_a, under_b))
    finally:
        rotated.stop()
    with pytest.raises(SecretKeyError, match="4 of 4"):
        build_components(_with_keys(settings, A))


def test_a_wrong_or_missing_key_is_a_clear_start_up_error(settings: Settings) -> None:
    stack = start_stack(_with_keys(settings, A))
    try:
        stack.new_account("enc")
    finally:
        stack.stop()
    with pytest.raises(SecretKeyError, match="SCP_IMAGES_SECRET_ENCRYPTION_KEY holds none of the keys"):
        build_components(_with_keys(settings, C))
    with pytest.raises(SecretKeyError, match="SCP_IMAGES_SECRET_ENCRYPTION_KEY is not set"):
        build_components(settings)
    with pytest.raises(SecretKeyError, match="key 2 of 2 is not a Fernet key") as bad:
        build_components(_with_keys(settings, f"{A},not-a-key"))
    assert "not-a-key" not in str(bad.value) and A not in str(bad.value)


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_refuse_to_start_with_a_wrong_key(settings: Settings, command: str) -> None:
    stack = start_stack(_with_keys(settings, A))
    try:
        stack.new_account("enc")
    finally:
        stack.stop()
    env = {**cli_env(settings), "SCP_IMAGES_SECRET_ENCRYPTION_KEY": C}
    args = [*SCP_IMAGES, command, "--data-dir", str(settings.data_dir)]
    if command == "serve":
        args += ["--port", "9"]  # never bound: start-up stops before listening
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "SCP_IMAGES_SECRET_ENCRYPTION_KEY" in result.stderr and "Traceback" not in result.stderr
    assert "listening" not in result.stdout


def test_serve_and_worker_warn_when_secrets_are_stored_unencrypted(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="scp_images.server"):
        _start(settings).close()
    assert any("unencrypted" in r.getMessage() for r in caplog.records), caplog.records
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="scp_images.server"):
        _start(_with_keys(settings, A)).close()
    assert not any("unencrypted" in r.getMessage() for r in caplog.records)


def test_reencrypt_without_a_key_is_refused(settings: Settings) -> None:
    build_components(settings).close()  # the database exists: only the missing key is wrong
    env = {k: v for k, v in cli_env(settings).items() if k != "SCP_IMAGES_SECRET_ENCRYPTION_KEY"}
    result = subprocess.run(
        [*SCP_IMAGES, "admin", "key", "reencrypt"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1 and "SCP_IMAGES_SECRET_ENCRYPTION_KEY is not set" in result.stderr


# --- the cipher itself -------------------------------------------------------------------------------


def test_cipher_round_trip_prefix_and_rotation() -> None:
    old, new = SecretCipher([A]), SecretCipher([B, A])
    sealed = old.seal("s3cret")
    assert sealed.startswith(PREFIX) and "s3cret" not in sealed and sealed != old.seal("s3cret")
    assert new.open(sealed) == "s3cret" and not new.is_current(sealed) and old.is_current(sealed)
    assert new.is_current(new.seal("s3cret"))
    assert new.open("plain-secret") == "plain-secret" and not new.is_current("plain-secret")
    with pytest.raises(SecretUnreadable):
        SecretCipher([C]).open(sealed)
    with pytest.raises(SecretUnreadable):
        SecretCipher(()).open(sealed)
    with pytest.raises(SecretUnreadable):
        new.open(PREFIX + "garbage-\u00e9")


def test_tokens_fit_the_column() -> None:
    """A generated secret (40 characters) becomes ~150 characters; the column holds 512."""
    sealed = SecretCipher([A]).seal("x" * 40)
    assert len(sealed) < 512 and access_keys.c.secret_key.type.length == 512  # type: ignore[attr-defined]


def test_download_links_derive_from_the_secret_in_the_clear(settings: Settings, make_qcow2: Any) -> None:
    """A link's MAC key comes from the key's secret: with encryption on, links work, and keep working
    when the stored form changes (re-encryption), because the MAC never depends on the ciphertext
    (which anyone reading the database could use to forge links)."""
    stack = start_stack(_with_keys(settings, A))
    try:
        key = stack.new_account("links")
        image = publish(stack, make_qcow2("l.qcow2", "1M", data=False), key.account_id)
        answer = stack.request(
            "POST", f"/v1/images/{image['id']}/download-link", key, account_id=key.account_id
        )
        assert answer.status_code == 200, answer.text
        url = answer.json()["url"]
        assert httpx.get(url, timeout=30).status_code == 200
        with stack.components.db.transaction() as conn:
            conn.execute(
                access_keys.update()
                .where(access_keys.c.access_key == key.access_key)
                .values(secret_key=SecretCipher([A]).seal(key.secret_key))  # another token, same secret
            )
        time.sleep(stack.settings.key_cache_seconds)
        assert httpx.get(url, timeout=30).status_code == 200
    finally:
        stack.stop()
