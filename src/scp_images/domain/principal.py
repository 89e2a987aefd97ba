"""Who is calling: an access key of an account, and the actions that key may perform."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from scp_images.domain.errors import Forbidden, InvalidRequest, ReaderMayNot

# An account's id, which OpenStack calls a project id (an image's ``owner``).
ACCOUNT_ID = re.compile(r"[0-9a-f]{32}")


def check_project_id(value: object) -> str:
    """An owner an admin gives an image: an account id's form (32 lower-case hex characters, what
    Keystone's project ids look like); the account need not exist (docs/decisions.md)."""
    if not isinstance(value, str) or not ACCOUNT_ID.fullmatch(value):
        raise InvalidRequest(reason="owner must be a project id of 32 lower-case hex characters")
    return value


class Action(StrEnum):
    SHOW_IMAGE = "virtualserver:ShowImage"
    LIST_IMAGES = "virtualserver:ListImages"
    CREATE_IMAGE = "virtualserver:CreateImage"
    SET_IMAGE = "virtualserver:SetImage"
    DELETE_IMAGE = "virtualserver:DeleteImage"
    IMPORT_IMAGE = "virtualserver:ImportImage"
    LIST_IMAGE_MEMBERS = "virtualserver:ListImageMembers"
    CREATE_IMAGE_MEMBER = "virtualserver:CreateImageMember"
    SHOW_IMAGE_MEMBER = "virtualserver:ShowImageMember"
    SET_IMAGE_MEMBER = "virtualserver:SetImageMember"
    DELETE_IMAGE_MEMBER = "virtualserver:DeleteImageMember"
    CREATE_SHARING_IMAGE = "virtualserver:CreateSharingImage"
    LIST_PENDING_IMAGES = "virtualserver:ListPendingImages"
    CREATE_SERVER_IMAGE = "virtualserver:CreateVirtualServerCustomImage"
    LIST_IMPORT_SOURCES = "virtualserver:ListImportSources"  # extension: GET /v1/import-sources
    LIST_ENDPOINTS = "iam:ListEndpoints"


class Role(StrEnum):
    """Keystone's default roles, held by an access key (never carried in a token).

    ``reader`` reads, lists and downloads what its account can; ``member`` (the default) does what keys
    always did; ``admin`` has Glance's admin powers on the OpenStack edge only, and only on a key of an
    operator account. Deny-lists apply on top of every role."""

    READER = "reader"
    MEMBER = "member"
    ADMIN = "admin"


# What a reader may do: read, list and download what its account can (Keystone's reader); every other
# action writes.
READ_ACTIONS = frozenset(
    {
        Action.SHOW_IMAGE,
        Action.LIST_IMAGES,
        Action.LIST_IMAGE_MEMBERS,
        Action.SHOW_IMAGE_MEMBER,
        Action.LIST_PENDING_IMAGES,
        Action.LIST_IMPORT_SOURCES,
        Action.LIST_ENDPOINTS,
    }
)


def parse_action(value: str) -> Action:
    try:
        return Action(value)
    except ValueError:
        known = ", ".join(a.value for a in Action)
        raise ValueError(f"unknown action {value!r}; known actions: {known}") from None


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    account_name: str
    user_name: str
    access_key: str
    denied_actions: frozenset[Action] = frozenset()
    role: Role = Role.MEMBER
    # Whether this call may use the admin role's powers: an OpenStack token's call may; a signed SCP
    # request or a console link may not (SCP's API has no admin, so an admin key acts there as a member).
    admin_powers: bool = True

    @property
    def is_admin(self) -> bool:
        """Glance's admin powers: an admin key's call on the OpenStack edge."""
        return self.role is Role.ADMIN and self.admin_powers

    @property
    def acting_role(self) -> Role:
        """The role this call acts with (what the audit trail records): an admin key's role, except
        where admin grants nothing, where it acts as a member."""
        return Role.MEMBER if self.role is Role.ADMIN and not self.admin_powers else self.role

    def may(self, action: Action) -> bool:
        return action not in self.denied_actions and (self.role is not Role.READER or action in READ_ACTIONS)

    def require(self, action: Action) -> None:
        """The deny-list first (its refusal names the action), then the role: a reader only reads."""
        if action in self.denied_actions:
            raise Forbidden(action=action.value)
        if self.role is Role.READER and action not in READ_ACTIONS:
            raise ReaderMayNot(action=action.value)
