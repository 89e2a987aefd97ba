"""The audit trail's record: who did what to which image or member, when, under which request, and how it
ended. Plain data; the services write it in the transaction of the change it describes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# Column widths (store/sql/tables.py): anything longer is cut, never refused.
MAX_ACTOR = 128
MAX_ACCESS_KEY = 64
MAX_ERROR_CODE = 128
MAX_DETAIL = 512


class ActorKind(StrEnum):
    API = "api"  # a signed (or refused) call; the actor is the access key and its account
    OPERATOR = "operator"  # `scp-images admin …` (or start-up); the actor is user@host
    WORKER = "worker"  # an import runner or the recovery of abandoned writes; the actor is its id


class AuditAction(StrEnum):
    """What a record says happened. Other parts add their own members here (one vocabulary)."""

    IMAGE_CREATE = "image.create"
    IMAGE_UPDATE = "image.update"
    IMAGE_DELETE = "image.delete"
    IMAGE_IMPORT = "image.import"
    IMAGE_UPLOAD = "image.upload"
    IMAGE_SHARE = "image.share"
    IMAGE_DEACTIVATE = "image.deactivate"  # the OpenStack edge's owner actions (no downloads, and back)
    IMAGE_REACTIVATE = "image.reactivate"
    MEMBER_ADD = "member.add"
    MEMBER_REMOVE = "member.remove"
    MEMBER_STATUS = "member.status"
    TOKEN_ISSUE = "token.issue"  # a Keystone sign-in; only refusals are recorded (a token changes nothing)
    IMAGE_PUBLISH = "image.publish"  # the operator's `admin image import` of a local file
    ACCOUNT_CREATE = "account.create"
    ACCOUNT_OPERATOR = "account.operator"  # marked an operator account (its keys may hold admin)
    ACCOUNT_NOT_OPERATOR = "account.not-operator"
    KEY_CREATE = "key.create"
    KEY_ENABLE = "key.enable"
    KEY_DISABLE = "key.disable"
    KEY_DELETE = "key.delete"
    KEY_ROLE = "key.role"  # the key's role changed
    KEY_REENCRYPT = "key.reencrypt"
    SOURCE_GRANT = "source.grant"
    SOURCE_REVOKE = "source.revoke"
    QUOTA_SET = "quota.set"
    QUOTA_RESET = "quota.reset"
    DATA_FLAG = "data.flag"  # the scrub found an image's bytes corrupt or missing
    DATA_CLEAR = "data.clear"  # a clean scrub cleared the flag
    IMAGE_RESTORE = "image.restore"  # the operator put an image's bytes back
    IMPORT_PUBLISH = "import.publish"  # a worker made an imported image active
    IMPORT_KILL = "import.kill"  # a worker ended an import killed
    IMPORT_REQUEUE = "import.requeue"  # a worker handed an import back (queued image, or pending job)
    IMPORT_STAGE = "import.stage"  # a disk to convert was received and staged; its conversion waits
    AUDIT_SWEEP = "audit.sweep"  # the retention sweep removed older records
    METADEF_CREATE = "metadef.create"  # an admin's metadata definitions (detail: namespace/kind/name)
    METADEF_UPDATE = "metadef.update"
    METADEF_DELETE = "metadef.delete"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    actor_kind: ActorKind
    action: str
    actor: str | None = None
    account_id: str | None = None
    access_key: str | None = None
    request_id: str | None = None
    image_id: str | None = None
    member_id: str | None = None
    status: int | None = None  # the HTTP status answered (API calls only)
    error_code: str | None = None  # the stable error code, None when it succeeded
    detail: str | None = None
    role: str | None = None  # the role an API call acted with (reader, member, admin)
    id: int | None = None  # given by the store


def as_text(value: str | None, limit: int) -> str | None:
    """A caller-supplied string made safe to keep: printable ASCII only (anything else becomes ``?``), at
    most ``limit`` characters. A hostile access key is text to store, never something to interpret."""
    if value is None:
        return None
    return "".join(c if " " <= c <= "~" else "?" for c in value[:limit])


def bounded(value: str | None, limit: int) -> str | None:
    """Our own text (reasons, details): cut to the column's width."""
    return None if value is None else value[:limit]
