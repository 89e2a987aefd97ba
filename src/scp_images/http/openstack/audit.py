"""The shared audit wrapper (``http/audit.py``) with this edge's statuses: a record says what the
OpenStack client was answered (a protected image's delete is 403 here, 409 in the SCP API)."""

from __future__ import annotations

from starlette.requests import Request

from scp_images.domain.audit import AuditAction
from scp_images.http import audit
from scp_images.http.openstack.errors import answered_status


def audited(
    request: Request,
    action: AuditAction,
    ok_status: int,
    *,
    image_id: str | None = None,
    member_id: str | None = None,
) -> audit.AuditedCall:
    return audit.audited(
        request, action, ok_status, image_id=image_id, member_id=member_id, status_of=answered_status
    )
