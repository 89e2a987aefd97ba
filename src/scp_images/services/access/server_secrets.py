"""The deployment's Keystone token secret: ``SCP_IMAGES_TOKEN_SECRET`` when set, else one generated at the
first start and kept in the database, so every process of the deployment (several workers, several hosts
on PostgreSQL) MACs tokens under the same secret and none under an empty one.

It is stored as access-key secrets are: a Fernet token when ``SCP_IMAGES_SECRET_ENCRYPTION_KEY`` is set,
else in the clear (``serve`` and ``worker`` warn). ``AccountService.check_secrets`` and
``reencrypt_secrets`` cover it with the keys' secrets.
"""

from __future__ import annotations

import logging
import secrets

from scp_images.services.access.secrets import SETTING, SecretCipher, SecretKeyError, SecretUnreadable
from scp_images.services.clock import Clock, system_clock
from scp_images.store.sql import server_secrets as store
from scp_images.store.sql.database import Database, lock_for_writing

TOKEN_SECRET = "token"  # the row's name
TOKEN_SETTING = "SCP_IMAGES_TOKEN_SECRET"
_TOKEN_BYTES = 32

log = logging.getLogger("scp_images.secrets")


class ServerSecrets:
    def __init__(self, db: Database, cipher: SecretCipher, clock: Clock = system_clock) -> None:
        self._db = db
        self._cipher = cipher
        self._clock = clock

    def token_secret(self) -> str:
        """The stored token secret in the clear, generated first if the deployment has none. Processes
        starting together take turns under the start-up lock, so exactly one of them generates it and
        all of them read that one."""
        with self._db.read() as conn:
            stored = store.get_secret(conn, TOKEN_SECRET)
        if stored is None:
            stored = self._generate()
        try:
            return self._cipher.open(stored)
        except SecretUnreadable:
            hint = "holds none of the keys it was encrypted with" if self._cipher.enabled else "is not set"
            raise SecretKeyError(f"the stored token secret is encrypted, and {SETTING} {hint}") from None

    def _generate(self) -> str:
        with self._db.transaction() as conn:
            lock_for_writing(conn)
            stored = store.get_secret(conn, TOKEN_SECRET)
            if stored is not None:  # another process made it while this one waited for the lock
                return stored
            stored = self._cipher.seal(secrets.token_urlsafe(_TOKEN_BYTES))
            store.insert_secret(conn, TOKEN_SECRET, stored, self._clock())
        log.info("generated this deployment's token secret (%s overrides it)", TOKEN_SETTING)
        return stored
