"""The authenticator decrypts a stored secret once: later requests reuse the secret in the clear (keyed
by the stored text), while the key's row is still read each time the key cache says so, so a disabled
or deleted key fails at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from scp_images.app import Components, build_components
from scp_images.config import Settings
from scp_images.services.access.auth import Authenticator
from scp_images.services.access.secrets import SecretCipher


class CountingCipher(SecretCipher):
    def __init__(self, key: str) -> None:
        super().__init__([key])
        self.opened = 0

    def open(self, stored: str) -> str:
        self.opened += 1
        return super().open(stored)


KEY = Fernet.generate_key().decode()


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Components]:
    key = KEY
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=None,
        blob_url=None,
        run_import_jobs=False,
        secret_encryption_key=key,
    )
    made = build_components(settings)
    yield made
    made.close()


def test_a_secret_is_decrypted_once_and_the_row_still_decides(parts: Components) -> None:
    cipher = CountingCipher(KEY)
    authenticator = Authenticator(parts.db, window_seconds=300, key_cache_seconds=0, secrets=cipher)
    account = parts.accounts.create_account("cached")
    key = parts.accounts.create_key(account.id, "cached@example.com")
    for _ in range(3):
        loaded = authenticator.load_key(key.access_key)
        assert loaded is not None and loaded.secret_key == key.secret_key and loaded.enabled
    assert cipher.opened == 1
    parts.accounts.set_key_enabled(key.access_key, False)
    loaded = authenticator.load_key(key.access_key)
    assert loaded is not None and not loaded.enabled
    parts.accounts.delete_key(key.access_key)
    assert authenticator.load_key(key.access_key) is None
