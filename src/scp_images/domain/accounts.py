"""Accounts and their access keys, as the services and edges see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scp_images.domain.principal import Action, Principal, Role


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    created_at: datetime
    operator: bool = False  # marked by the operator: only its keys may hold the admin role


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key: str
    secret_key: str
    account_id: str
    account_name: str
    user_name: str
    enabled: bool
    denied_actions: frozenset[Action]
    created_at: datetime
    role: Role = Role.MEMBER  # read from the key's row on every request, never from a token
    # How many times the key was disabled: a token or download link issued under a smaller count is dead
    # for good, whatever the key's state now.
    revocations: int = 0

    def principal(self, *, admin_powers: bool = False) -> Principal:
        """The caller this key makes; ``admin_powers`` only where the admin role grants any (an
        OpenStack token's call): a signed SCP request or a console link acts as a member."""
        return Principal(
            self.account_id,
            self.account_name,
            self.user_name,
            self.access_key,
            self.denied_actions,
            self.role,
            admin_powers,
        )
