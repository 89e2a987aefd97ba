"""Accounts and access keys."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from scp_images.domain.accounts import AccessKey, Account
from scp_images.domain.errors import Conflict
from scp_images.domain.principal import Action, Role
from scp_images.store.sql.conflicts import integrity_as
from scp_images.store.sql.tables import access_keys, accounts


def insert_account(conn: Connection, record: Account) -> None:
    """Conflict when the id exists: the caller's check may have raced with another create."""
    with integrity_as(Conflict(reason=f"account {record.id} exists already")):
        conn.execute(
            insert(accounts).values(
                id=record.id, name=record.name, created_at=record.created_at, operator=record.operator
            )
        )


def _account_record(row: object) -> Account:
    return Account(row.id, row.name, row.created_at, row.operator)  # type: ignore[attr-defined]


def get_account(conn: Connection, account_id: str) -> Account | None:
    row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
    return _account_record(row) if row else None


def list_accounts(conn: Connection) -> list[Account]:
    rows = conn.execute(select(accounts).order_by(accounts.c.created_at, accounts.c.id))
    return [_account_record(r) for r in rows]


def set_operator(conn: Connection, account_id: str, operator: bool) -> bool:
    result = conn.execute(update(accounts).where(accounts.c.id == account_id).values(operator=operator))
    return result.rowcount == 1


def admin_keys(conn: Connection, account_id: str) -> list[str]:
    """The account's keys holding the admin role."""
    query = select(access_keys.c.access_key).where(
        access_keys.c.account_id == account_id, access_keys.c.role == Role.ADMIN.value
    )
    return list(conn.execute(query.order_by(access_keys.c.access_key)).scalars())


def has_accounts(conn: Connection) -> bool:
    return conn.execute(select(accounts.c.id).limit(1)).first() is not None


def account_exists(conn: Connection, account_id: str) -> bool:
    return conn.execute(select(accounts.c.id).where(accounts.c.id == account_id)).first() is not None


def insert_key(conn: Connection, record: AccessKey) -> None:
    """Conflict when the access key exists (a random 20-character key: practically never)."""
    with integrity_as(Conflict(reason=f"access key {record.access_key} exists already")):
        _insert_key(conn, record)


def _insert_key(conn: Connection, record: AccessKey) -> None:
    conn.execute(
        insert(access_keys).values(
            access_key=record.access_key,
            secret_key=record.secret_key,
            account_id=record.account_id,
            user_name=record.user_name,
            enabled=record.enabled,
            denied_actions=sorted(a.value for a in record.denied_actions),
            created_at=record.created_at,
            role=record.role.value,
        )
    )


_KEY_QUERY = select(access_keys, accounts.c.name.label("account_name")).join(
    accounts, accounts.c.id == access_keys.c.account_id
)


def _key_record(row: object) -> AccessKey:
    return AccessKey(
        access_key=row.access_key,  # type: ignore[attr-defined]
        secret_key=row.secret_key,  # type: ignore[attr-defined]
        account_id=row.account_id,  # type: ignore[attr-defined]
        account_name=row.account_name,  # type: ignore[attr-defined]
        user_name=row.user_name,  # type: ignore[attr-defined]
        enabled=row.enabled,  # type: ignore[attr-defined]
        denied_actions=frozenset(Action(a) for a in row.denied_actions),  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        role=Role(row.role),  # type: ignore[attr-defined]
    )


_KEY_BY_ID = _KEY_QUERY.where(access_keys.c.access_key == bindparam("access_key"))


def get_key(conn: Connection, access_key: str) -> AccessKey | None:
    row = conn.execute(_KEY_BY_ID, {"access_key": access_key}).first()
    return _key_record(row) if row else None


def list_keys(conn: Connection, account_id: str | None) -> list[AccessKey]:
    query = _KEY_QUERY.order_by(access_keys.c.created_at, access_keys.c.access_key)
    if account_id is not None:
        query = query.where(access_keys.c.account_id == account_id)
    return [_key_record(r) for r in conn.execute(query)]


def set_key_enabled(conn: Connection, access_key: str, enabled: bool) -> bool:
    result = conn.execute(
        update(access_keys).where(access_keys.c.access_key == access_key).values(enabled=enabled)
    )
    return result.rowcount == 1


def set_key_role(conn: Connection, access_key: str, role: Role) -> bool:
    result = conn.execute(
        update(access_keys).where(access_keys.c.access_key == access_key).values(role=role.value)
    )
    return result.rowcount == 1


def delete_key(conn: Connection, access_key: str) -> bool:
    return conn.execute(delete(access_keys).where(access_keys.c.access_key == access_key)).rowcount == 1


def list_secrets(conn: Connection) -> list[tuple[str, str]]:
    """(access key, stored secret) of every key, as stored (possibly encrypted)."""
    rows = conn.execute(
        select(access_keys.c.access_key, access_keys.c.secret_key).order_by(access_keys.c.access_key)
    )
    return [(r.access_key, r.secret_key) for r in rows]


def replace_secret(conn: Connection, access_key: str, old: str, new: str) -> bool:
    """Compare-and-set of a stored secret: False when the row changed (or went) since it was read."""
    result = conn.execute(
        update(access_keys)
        .where(access_keys.c.access_key == access_key, access_keys.c.secret_key == old)
        .values(secret_key=new)
    )
    return result.rowcount == 1
