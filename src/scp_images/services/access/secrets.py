"""Access-key secrets at rest: Fernet tokens when ``SCP_IMAGES_SECRET_ENCRYPTION_KEY`` is set.

The setting is a comma-separated list of Fernet keys. The first encrypts; all of them decrypt
(``MultiFernet``), which is how keys are rotated: put the new key first, run
``scp-images admin key reencrypt``, then drop the old key. Stored values carry a prefix, so rows written
before encryption was turned on (plain secrets, which never contain ``:``) keep working until re-encrypted.
The server must know each secret in the clear to check HMAC signatures, so it is encryption, not hashing.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SETTING = "SCP_IMAGES_SECRET_ENCRYPTION_KEY"
PREFIX = "fernet:"


class SecretKeyError(ValueError):
    """The configured keys are malformed or cannot read what is stored: a start-up error."""


class SecretUnreadable(Exception):
    """One stored secret cannot be decrypted with the configured keys."""


def parse_keys(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


class SecretCipher:
    def __init__(self, keys: Sequence[str]) -> None:
        fernets = []
        for number, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode()))
            except (ValueError, TypeError):
                # The key itself is never echoed: it is a secret.
                raise SecretKeyError(
                    f"{SETTING}: key {number} of {len(keys)} is not a Fernet key "
                    "(32 bytes in url-safe base64, e.g. from Fernet.generate_key())"
                ) from None
        self._primary = fernets[0] if fernets else None
        self._all = MultiFernet(fernets) if fernets else None

    @classmethod
    def from_setting(cls, value: str | None) -> SecretCipher:
        return cls(parse_keys(value))

    @property
    def enabled(self) -> bool:
        return self._all is not None

    def seal(self, secret: str) -> str:
        """What to store for ``secret``: a token under the first key, or the secret itself without keys."""
        if self._primary is None:
            return secret
        return PREFIX + self._primary.encrypt(secret.encode()).decode("ascii")

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before encryption was turned on
        if self._all is None:
            raise SecretUnreadable(f"the secret is encrypted but {SETTING} is not set")
        try:
            return self._all.decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable(f"no key in {SETTING} decrypts the secret") from None

    def is_current(self, stored: str) -> bool:
        """True when ``stored`` is what sealing would write now: encrypted under the first key (or,
        without keys, plain)."""
        if self._primary is None:
            return not stored.startswith(PREFIX)
        if not stored.startswith(PREFIX):
            return False
        try:
            self._primary.decrypt(stored[len(PREFIX) :].encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True
