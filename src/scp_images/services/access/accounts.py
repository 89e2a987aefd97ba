"""Operator use cases for accounts and access keys."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass, replace

from scp_images.domain.accounts import AccessKey, Account
from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import (
    AccessKeyNotFound,
    AccountNotFound,
    AdminNeedsOperatorAccount,
    Conflict,
    InvalidRequest,
    OperatorAccountHasAdmins,
)
from scp_images.domain.principal import Action, Role
from scp_images.services import audit
from scp_images.services.access.secrets import SETTING, SecretCipher, SecretKeyError, SecretUnreadable
from scp_images.services.audit import AuditContext
from scp_images.services.clock import Clock, system_clock
from scp_images.store.sql import accounts as store
from scp_images.store.sql.database import Database, lock_for_writing

_ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")
_KEY_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class Reencrypted:
    changed: int
    unchanged: int


class AccountService:
    def __init__(
        self, db: Database, clock: Clock = system_clock, secrets: SecretCipher | None = None
    ) -> None:
        self._db = db
        self._clock = clock
        self._secrets = secrets or SecretCipher(())

    def create_account(
        self,
        name: str,
        account_id: str | None = None,
        context: AuditContext | None = None,
        *,
        operator: bool = False,
    ) -> Account:
        account_id = account_id or secrets.token_hex(16)
        if not _ACCOUNT_ID.match(account_id):
            raise InvalidRequest(reason="an account id is 32 lower-case hex characters")
        if not name.strip():
            raise InvalidRequest(reason="an account needs a name")
        record = Account(account_id, name, self._clock(), operator)
        with self._db.transaction() as conn:
            if store.account_exists(conn, account_id):
                raise Conflict(reason=f"account {account_id} exists already")
            store.insert_account(conn, record)
            audit.record_change(
                conn,
                context,
                self._clock(),
                AuditAction.ACCOUNT_CREATE,
                account_id=account_id,
                detail=f"name {name}" + (", operator account" if operator else ""),
            )
        return record

    def set_operator(self, account_id: str, operator: bool, context: AuditContext | None = None) -> Account:
        """Mark (or unmark) an operator account: only its keys may hold the admin role. Unmarking is
        refused while the account still has admin keys, so no key holds a role its account may not
        give. Serialised with :meth:`create_key` and :meth:`set_key_role` (a rare operator action)."""
        with self._db.transaction() as conn:
            lock_for_writing(conn)
            account = store.get_account(conn, account_id)
            if account is None:
                raise AccountNotFound(account_id=account_id)
            admins = [] if operator else store.admin_keys(conn, account_id)
            if admins:
                raise OperatorAccountHasAdmins(account_id=account_id, keys=", ".join(admins))
            store.set_operator(conn, account_id, operator)
            action = AuditAction.ACCOUNT_OPERATOR if operator else AuditAction.ACCOUNT_NOT_OPERATOR
            audit.record_change(conn, context, self._clock(), action, account_id=account_id)
        return replace(account, operator=operator)

    def create_first_account(self, name: str, user_name: str) -> tuple[Account, AccessKey] | None:
        """An account with one key, made only while there is no account at all (else None). Processes
        starting together take turns, so at most one of them makes it."""
        with self._db.transaction() as conn:
            lock_for_writing(conn)
            if store.has_accounts(conn):
                return None
            account = Account(secrets.token_hex(16), name, self._clock())
            store.insert_account(conn, account)
            key = self._new_key(account, user_name, ())
            store.insert_key(conn, self._sealed(key))
            detail = f"first account, name {name}"
            audit.record_change(
                conn, None, self._clock(), AuditAction.ACCOUNT_CREATE, account_id=account.id, detail=detail
            )
            audit.record_change(
                conn,
                None,
                self._clock(),
                AuditAction.KEY_CREATE,
                account_id=account.id,
                detail=_key_detail(key),
            )
        return account, key

    def list_accounts(self) -> list[Account]:
        with self._db.read() as conn:
            return store.list_accounts(conn)

    def create_key(
        self,
        account_id: str,
        user_name: str,
        denied: Iterable[Action] = (),
        context: AuditContext | None = None,
        *,
        role: Role = Role.MEMBER,
    ) -> AccessKey:
        with self._db.transaction() as conn:
            if role is Role.ADMIN:
                lock_for_writing(conn)
            account = store.get_account(conn, account_id)
            if account is None:
                raise AccountNotFound(account_id=account_id)
            _check_role(account, role)
            record = self._new_key(account, user_name, denied, role)
            store.insert_key(conn, self._sealed(record))
            detail = _key_detail(record)
            audit.record_change(
                conn, context, self._clock(), AuditAction.KEY_CREATE, account_id=account_id, detail=detail
            )
        return record  # the secret in the clear, shown once to the operator who asked

    def _new_key(
        self, account: Account, user_name: str, denied: Iterable[Action], role: Role = Role.MEMBER
    ) -> AccessKey:
        return AccessKey(
            access_key="".join(secrets.choice(_KEY_ALPHABET) for _ in range(20)),
            secret_key=secrets.token_urlsafe(30),
            account_id=account.id,
            account_name=account.name,
            user_name=user_name,
            enabled=True,
            denied_actions=frozenset(denied),
            created_at=self._clock(),
            role=role,
        )

    def _sealed(self, key: AccessKey) -> AccessKey:
        """The record as stored: its secret encrypted when a key is configured."""
        return replace(key, secret_key=self._secrets.seal(key.secret_key))

    def list_keys(self, account_id: str | None = None) -> list[AccessKey]:
        with self._db.read() as conn:
            return store.list_keys(conn, account_id)

    def set_key_enabled(self, access_key: str, enabled: bool, context: AuditContext | None = None) -> None:
        with self._db.transaction() as conn:
            key = store.get_key(conn, access_key)
            if key is None or not store.set_key_enabled(conn, access_key, enabled):
                raise AccessKeyNotFound(access_key=access_key)
            action = AuditAction.KEY_ENABLE if enabled else AuditAction.KEY_DISABLE
            detail = f"access key {access_key}"
            audit.record_change(
                conn, context, self._clock(), action, account_id=key.account_id, detail=detail
            )

    def set_key_role(self, access_key: str, role: Role, context: AuditContext | None = None) -> AccessKey:
        """The key's next request (and the next check of a token issued for it) acts with ``role``, in
        every process within the key cache's seconds: a token never carries a role."""
        with self._db.transaction() as conn:
            if role is Role.ADMIN:
                lock_for_writing(conn)
            key = store.get_key(conn, access_key)
            if key is None:
                raise AccessKeyNotFound(access_key=access_key)
            account = store.get_account(conn, key.account_id)
            if account is None:  # deleted with its keys meanwhile
                raise AccessKeyNotFound(access_key=access_key)
            _check_role(account, role)
            if not store.set_key_role(conn, access_key, role):
                raise AccessKeyNotFound(access_key=access_key)
            detail = f"access key {access_key}, role {key.role.value} -> {role.value}"
            audit.record_change(
                conn, context, self._clock(), AuditAction.KEY_ROLE, account_id=key.account_id, detail=detail
            )
        return replace(key, role=role)

    def delete_key(self, access_key: str, context: AuditContext | None = None) -> None:
        with self._db.transaction() as conn:
            key = store.get_key(conn, access_key)
            if key is None or not store.delete_key(conn, access_key):
                raise AccessKeyNotFound(access_key=access_key)
            detail = f"access key {access_key}"
            audit.record_change(
                conn, context, self._clock(), AuditAction.KEY_DELETE, account_id=key.account_id, detail=detail
            )

    def check_secrets(self) -> None:
        """Start-up check: every stored secret can be read with the configured keys. A wrong or missing
        key is one clear error here rather than a 401 for each request of every affected key."""
        with self._db.read() as conn:
            stored = store.list_secrets(conn)
        unreadable = 0
        for _, secret in stored:
            try:
                self._secrets.open(secret)
            except SecretUnreadable:
                unreadable += 1
        if unreadable:
            hint = (
                "is not set"
                if not self._secrets.enabled
                else "holds none of the keys they were encrypted with"
            )
            raise SecretKeyError(
                f"{unreadable} of {len(stored)} stored access-key secrets are encrypted, and {SETTING} {hint}"
            )

    def reencrypt_secrets(self, context: AuditContext | None = None) -> Reencrypted:
        """Encrypt every stored secret with the first configured key: plain rows and rows under an older
        key. Each row is replaced only if unchanged since it was read, so a concurrent run is harmless."""
        if not self._secrets.enabled:
            raise InvalidRequest(reason=f"{SETTING} is not set: there is no key to encrypt with")
        changed = unchanged = 0
        with self._db.transaction() as conn:
            for access_key, secret in store.list_secrets(conn):
                if self._secrets.is_current(secret):
                    unchanged += 1
                    continue
                sealed = self._secrets.seal(self._secrets.open(secret))
                if store.replace_secret(conn, access_key, secret, sealed):
                    changed += 1
            detail = f"{changed} secrets encrypted with the first key, {unchanged} unchanged"
            audit.record_change(conn, context, self._clock(), AuditAction.KEY_REENCRYPT, detail=detail)
        return Reencrypted(changed, unchanged)


def _check_role(account: Account, role: Role) -> None:
    if role is Role.ADMIN and not account.operator:
        raise AdminNeedsOperatorAccount(account_id=account.id)


def _key_detail(key: AccessKey) -> str:
    denied = ",".join(sorted(a.value for a in key.denied_actions))
    text = f"access key {key.access_key} for {key.user_name}, role {key.role.value}"
    return text + (f", denied {denied}" if denied else "")
