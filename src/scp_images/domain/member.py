"""Image members: accounts an owner shares a `shared` image with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class MemberStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Member:
    image_id: str
    member_id: str
    status: MemberStatus
    created_at: datetime
    updated_at: datetime
