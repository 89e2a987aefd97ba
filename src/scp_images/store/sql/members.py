"""Image memberships."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select, update

from scp_images.domain.errors import ImageNotFound
from scp_images.domain.member import Member, MemberStatus
from scp_images.store.sql.conflicts import insert_unless_present, integrity_as
from scp_images.store.sql.tables import image_members


def _member(row: Any) -> Member:
    return Member(row.image_id, row.member_id, MemberStatus(row.status), row.created_at, row.updated_at)


def insert_member(conn: Connection, member: Member) -> bool:
    """False when the account is a member already (also when a concurrent add committed first)."""
    values = {
        "image_id": member.image_id,
        "member_id": member.member_id,
        "status": member.status.value,
        "created_at": member.created_at,
        "updated_at": member.updated_at,
    }
    # The one other constraint is the image's foreign key: the image was deleted meanwhile.
    with integrity_as(ImageNotFound(image_id=member.image_id)):
        return insert_unless_present(conn, image_members, values)


def get_member(conn: Connection, image_id: str, member_id: str) -> Member | None:
    row = conn.execute(
        select(image_members).where(
            image_members.c.image_id == image_id, image_members.c.member_id == member_id
        )
    ).first()
    return _member(row) if row else None


def list_members(conn: Connection, image_id: str) -> list[Member]:
    rows = conn.execute(
        select(image_members)
        .where(image_members.c.image_id == image_id)
        .order_by(image_members.c.created_at, image_members.c.member_id)
    )
    return [_member(r) for r in rows]


def set_status(conn: Connection, image_id: str, member_id: str, status: MemberStatus, now: Any) -> bool:
    result = conn.execute(
        update(image_members)
        .where(image_members.c.image_id == image_id, image_members.c.member_id == member_id)
        .values(status=status.value, updated_at=now)
    )
    return result.rowcount == 1


def delete_member(conn: Connection, image_id: str, member_id: str) -> bool:
    result = conn.execute(
        delete(image_members).where(
            image_members.c.image_id == image_id, image_members.c.member_id == member_id
        )
    )
    return result.rowcount == 1
