"""Who is calling: an access key of an account, and the actions that key may perform."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from scp_images.domain.errors import Forbidden


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

    @property
    def is_admin(self) -> bool:
        """Glance's admin powers; the OpenStack edge alone consults this (the SCP edge ignores it)."""
        return self.role is Role.ADMIN

    def may(self, action: Action) -> bool:
        return action not in self.denied_actions

    def require(self, action: Action) -> None:
        if not self.may(action):
            raise Forbidden(action=action.value)
