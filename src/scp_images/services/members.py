"""Sharing: members of an image, their answers, and preparing an image for sharing."""

from __future__ import annotations

import re
from typing import Any

from scp_images.domain.access import require_owner, require_visible
from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import (
    AccountNotFound,
    Conflict,
    ImageNotShared,
    InvalidImageStatus,
    InvalidRequest,
    MemberExists,
    MemberNotFound,
    NotTheMember,
)
from scp_images.domain.image import Image, ImageStatus, Visibility, parse_image_id
from scp_images.domain.member import Member, MemberStatus
from scp_images.domain.principal import Principal
from scp_images.services import audit
from scp_images.services.audit import AuditContext, for_principal
from scp_images.services.clock import Clock, system_clock
from scp_images.store.sql import accounts as account_store
from scp_images.store.sql import images as image_store
from scp_images.store.sql import members as member_store
from scp_images.store.sql.database import Database

_MEMBER_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def parse_member_id(member_id: str) -> str:
    """The contract's member_id shape; anything else cannot name an account."""
    if not _MEMBER_ID.match(member_id):
        raise InvalidRequest(reason=f"member_id {member_id[:80]!r} is not an account id")
    return member_id


class MemberService:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self._db = db
        self._clock = clock

    def _visible(self, conn: Any, principal: Principal, image_id: str) -> Image:
        image, status = image_store.get_image_for(conn, image_id, principal.account_id)
        return require_visible(image, image_id, principal.account_id, status)

    def add(
        self, principal: Principal, image_id: str, member_id: str, context: AuditContext | None = None
    ) -> Member:
        image_id = parse_image_id(image_id)
        with self._db.transaction() as conn:
            image = self._visible(conn, principal, image_id)
            require_owner(image, principal.account_id)
            if image.visibility is not Visibility.SHARED:
                raise ImageNotShared(image_id=image_id, visibility=image.visibility.value)
            if member_id == image.owner:
                raise Conflict(reason="the owner of an image cannot be its member")
            if not account_store.account_exists(conn, member_id):
                raise AccountNotFound(account_id=member_id)
            if member_store.get_member(conn, image_id, member_id) is not None:
                raise MemberExists(image_id=image_id, member_id=member_id)
            now = self._clock()
            member = Member(image_id, member_id, MemberStatus.PENDING, now, now)
            # The check above answers quickly; the insert decides when two adds race past it.
            if not member_store.insert_member(conn, member):
                raise MemberExists(image_id=image_id, member_id=member_id)
            who = context or for_principal(principal)
            audit.record_change(
                conn, who, self._clock(), AuditAction.MEMBER_ADD, image_id=image_id, member_id=member_id
            )
        return member

    def list(self, principal: Principal, image_id: str) -> list[Member]:
        image_id = parse_image_id(image_id)
        with self._db.read() as conn:
            image = self._visible(conn, principal, image_id)
            members = member_store.list_members(conn, image_id)
        if image.owner == principal.account_id:
            return members
        return [m for m in members if m.member_id == principal.account_id]

    def get(self, principal: Principal, image_id: str, member_id: str) -> Member:
        image_id = parse_image_id(image_id)
        member_id = parse_member_id(member_id)
        with self._db.read() as conn:
            image = self._visible(conn, principal, image_id)
            member = member_store.get_member(conn, image_id, member_id)
        mine = image.owner == principal.account_id or member_id == principal.account_id
        if member is None or not mine:
            raise MemberNotFound(image_id=image_id, member_id=member_id)
        return member

    def set_status(
        self,
        principal: Principal,
        image_id: str,
        member_id: str,
        status: MemberStatus,
        context: AuditContext | None = None,
    ) -> Member:
        """Only the member answers for itself; the owner is refused (403), anyone else sees 404."""
        member = self.get(principal, image_id, member_id)
        if member.member_id != principal.account_id:
            raise NotTheMember(image_id=member.image_id, member_id=member_id)
        with self._db.transaction() as conn:
            now = self._clock()
            if not member_store.set_status(conn, member.image_id, member_id, status, now):
                raise MemberNotFound(image_id=member.image_id, member_id=member_id)
            who = context or for_principal(principal)
            audit.record_change(
                conn,
                who,
                self._clock(),
                AuditAction.MEMBER_STATUS,
                image_id=member.image_id,
                member_id=member_id,
                detail=status.value,
            )
            updated = member_store.get_member(conn, member.image_id, member_id)
        assert updated is not None
        return updated

    def remove(
        self, principal: Principal, image_id: str, member_id: str, context: AuditContext | None = None
    ) -> None:
        image_id = parse_image_id(image_id)
        member_id = parse_member_id(member_id)
        with self._db.transaction() as conn:
            image = self._visible(conn, principal, image_id)
            require_owner(image, principal.account_id)
            if not member_store.delete_member(conn, image_id, member_id):
                raise MemberNotFound(image_id=image_id, member_id=member_id)
            who = context or for_principal(principal)
            audit.record_change(
                conn, who, self._clock(), AuditAction.MEMBER_REMOVE, image_id=image_id, member_id=member_id
            )

    def share(self, principal: Principal, image_id: str, context: AuditContext | None = None) -> None:
        """Create Sharing Image: our images are files already, so preparing one for sharing means
        making it ``shared``; only an active image of the caller's own can be shared."""
        image_id = parse_image_id(image_id)
        with self._db.transaction() as conn:
            image = self._visible(conn, principal, image_id)
            require_owner(image, principal.account_id)
            if image.status is not ImageStatus.ACTIVE:
                raise InvalidImageStatus(image_id=image_id, status=image.status.value, expected="active")
            image_store.update_image(
                conn, image_id, {"visibility": Visibility.SHARED, "updated_at": self._clock()}
            )
            who = context or for_principal(principal)
            audit.record_change(conn, who, self._clock(), AuditAction.IMAGE_SHARE, image_id=image_id)
