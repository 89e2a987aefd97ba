"""Operator use cases for accounts and access keys."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable

from scp_images.domain.errors import AccessKeyNotFound, AccountNotFound, Conflict, InvalidRequest
from scp_images.domain.principal import Action
from scp_images.services.clock import Clock, system_clock
from scp_images.store.sql import accounts as store
from scp_images.store.sql.accounts import AccountRecord, KeyRecord
from scp_images.store.sql.database import Database, lock_for_writing

_ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")
_KEY_ALPHABET = string.ascii_letters + string.digits


class AccountService:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    def create_account(self, name: str, account_id: str | None = None) -> AccountRecord:
        account_id = account_id or secrets.token_hex(16)
        if not _ACCOUNT_ID.match(account_id):
            raise InvalidRequest(reason="an account id is 32 lower-case hex characters")
        if not name.strip():
            raise InvalidRequest(reason="an account needs a name")
        record = AccountRecord(account_id, name, self._clock())
        with self._db.transaction() as conn:
            if store.account_exists(conn, account_id):
                raise Conflict(reason=f"account {account_id} exists already")
            store.insert_account(conn, record)
        return record

    def create_first_account(self, name: str, user_name: str) -> tuple[AccountRecord, KeyRecord] | None:
        """An account with one key, made only while there is no account at all (else None). Processes
        starting together take turns, so at most one of them makes it."""
        with self._db.transaction() as conn:
            lock_for_writing(conn)
            if store.has_accounts(conn):
                return None
            account = AccountRecord(secrets.token_hex(16), name, self._clock())
            store.insert_account(conn, account)
            key = self._new_key(account, user_name, ())
            store.insert_key(conn, key)
        return account, key

    def list_accounts(self) -> list[AccountRecord]:
        with self._db.read() as conn:
            return store.list_accounts(conn)

    def create_key(self, account_id: str, user_name: str, denied: Iterable[Action] = ()) -> KeyRecord:
        with self._db.transaction() as conn:
            account = store.get_account(conn, account_id)
            if account is None:
                raise AccountNotFound(account_id=account_id)
            record = self._new_key(account, user_name, denied)
            store.insert_key(conn, record)
        return record

    def _new_key(self, account: AccountRecord, user_name: str, denied: Iterable[Action]) -> KeyRecord:
        return KeyRecord(
            access_key="".join(secrets.choice(_KEY_ALPHABET) for _ in range(20)),
            secret_key=secrets.token_urlsafe(30),
            account_id=account.id,
            account_name=account.name,
            user_name=user_name,
            enabled=True,
            denied_actions=frozenset(denied),
            created_at=self._clock(),
        )

    def list_keys(self, account_id: str | None = None) -> list[KeyRecord]:
        with self._db.read() as conn:
            return store.list_keys(conn, account_id)

    def set_key_enabled(self, access_key: str, enabled: bool) -> None:
        with self._db.transaction() as conn:
            if not store.set_key_enabled(conn, access_key, enabled):
                raise AccessKeyNotFound(access_key=access_key)

    def delete_key(self, access_key: str) -> None:
        with self._db.transaction() as conn:
            if not store.delete_key(conn, access_key):
                raise AccessKeyNotFound(access_key=access_key)
