"""Domain errors. Each has a stable ``code`` and an English template; the HTTP layer maps codes to
statuses and translations in one table (``scp_images.http.errors``).

Tree::

    DomainError
    ├── Unauthenticated          401  bad or missing signature, unknown/disabled key, stale timestamp
    ├── Forbidden                403  action not allowed for the key, account mismatch, not the owner
    │   ├── ImportSourceForbidden  this account may not read the import source (no grant, another
    │   │                          account's Object Storage, the blob store's bucket)
    │   └── ImageDeactivated     the image's bytes are withheld by its owner
    ├── InvalidRequest           400  malformed path, query or body; bad API version
    │   ├── UnsupportedApiVersion
    │   ├── DiskImageRejected    the bytes are not a safe qcow2 (reason says why)
    │   ├── RestoreMismatch      an operator's restore file is not the image's bytes
    │   ├── ImportSourceRejected the import URL is malformed, unsupported or cannot be read
    │   └── InvalidSourceGrant   an operator's source grant is malformed or names the blob store
    ├── NotFound                 404  image, member, account, import, server, source grant
    ├── Conflict                 409  wrong status, protected, already a member, lost race
    │   ├── ImageDataMissing     an active image whose bytes are gone from the blob store
    │   └── ImageDataCorrupt     the integrity scrub found an active image's bytes changed
    ├── UploadInterrupted        408  the upload's body stopped before its end
    ├── PayloadTooLarge          413
    ├── QuotaExceeded            413  an account quota (one code per limit: images, bytes, uploading)
    ├── RateLimited              429
    └── Unavailable              503  database or blob store down
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "virtualserver.InternalError"
    template: ClassVar[str] = "Internal error."

    def __init__(self, template: str | None = None, /, **params: Any) -> None:
        self.params = params
        if template is not None:
            self.template = template  # type: ignore[misc]
        super().__init__(self.message)

    @property
    def message(self) -> str:
        try:
            return self.template.format(**self.params)
        except (KeyError, IndexError):
            return self.template


class Unauthenticated(DomainError):
    code = "virtualserver.auth.Unauthenticated"
    template = "The request could not be authenticated: {reason}."


class Forbidden(DomainError):
    code = "virtualserver.auth.Forbidden"
    template = "You are not allowed to perform {action}."


class NotOwner(Forbidden):
    code = "virtualserver.image.NotOwner"
    template = "Only the owner of image {image_id} may do this."


class NotTheMember(Forbidden):
    code = "virtualserver.image.NotTheMember"
    template = "Only member {member_id} may accept or reject image {image_id}."


class ImageDeactivated(Forbidden):
    code = "virtualserver.image.Deactivated"
    template = "Image {image_id} is deactivated; its owner must reactivate it before it can be downloaded."


class AccountMismatch(Forbidden):
    code = "virtualserver.auth.AccountMismatch"
    template = "Scp-AccountId {account_id} does not match the access key's account."


class ImportSourceForbidden(Forbidden):
    """Decided from the URL and the account's grants alone, so the text never depends on whether the
    object exists; the blob store's bucket gets the same text as any ungranted bucket."""

    code = "virtualserver.image.ImportSourceForbidden"
    template = (
        "This account may not import {location}: no import source grant of the account covers it "
        "(an operator grants buckets with 'scp-images admin source grant')."
    )


class ImportSourceOtherAccount(ImportSourceForbidden):
    template = (
        "This account may not import from the SCP Object Storage of account {account}: "
        "an Object Storage URL must name the caller's own account."
    )


class InvalidRequest(DomainError):
    code = "virtualserver.request.Invalid"
    template = "The request is invalid: {reason}."


class UnsupportedApiVersion(InvalidRequest):
    code = "virtualserver.request.UnsupportedApiVersion"
    template = "API version {version!r} is not supported; supported: {supported}."


class ApiVersionRetired(UnsupportedApiVersion):
    code = "virtualserver.request.ApiVersionRetired"
    template = "API version {version!r} is no longer supported since {sunset}; supported: {supported}."


class DiskImageRejected(InvalidRequest):
    """The image data is not a qcow2 this service will store. ``reason`` is a stable short word."""

    code = "virtualserver.image.DiskImageRejected"
    template = "The image data was refused ({reason}): {detail}."

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason=reason, detail=detail)

    @property
    def reason(self) -> str:
        return str(self.params["reason"])


class RestoreMismatch(InvalidRequest):
    code = "virtualserver.image.RestoreMismatch"
    template = "The file is not the data of image {image_id} ({detail}); nothing was written."


class UploadInterrupted(DomainError):
    """The client stopped sending (disconnected, or too slow) before the upload's end."""

    code = "virtualserver.image.UploadInterrupted"
    template = "The upload stopped before its end ({reason}); the image is queued again, send it again."


class ImportSourceRejected(InvalidRequest):
    code = "virtualserver.image.ImportSourceRejected"
    template = "The import URL cannot be used: {reason}."


class InvalidSourceGrant(InvalidRequest):
    code = "virtualserver.image.InvalidSourceGrant"
    template = "The import source grant is invalid: {reason}."


class NotFound(DomainError):
    code = "virtualserver.NotFound"
    template = "The resource could not be found."


class ImageNotFound(NotFound):
    code = "virtualserver.image.NotFound"
    template = "Image {image_id} could not be found."


class MemberNotFound(NotFound):
    code = "virtualserver.image.MemberNotFound"
    template = "Member {member_id} of image {image_id} could not be found."


class AccountNotFound(NotFound):
    code = "virtualserver.account.NotFound"
    template = "Account {account_id} could not be found."


class ImportNotFound(NotFound):
    code = "virtualserver.image.ImportNotFound"
    template = "Image {image_id} has no import."


class SourceGrantNotFound(NotFound):
    code = "virtualserver.image.SourceGrantNotFound"
    template = "Account {account_id} has no import source grant for bucket {bucket} with prefix {prefix!r}."


class ServerNotFound(NotFound):
    code = "virtualserver.server.NotFound"
    template = "Server {server_id} could not be found."


class AccessKeyNotFound(NotFound):
    code = "virtualserver.auth.AccessKeyNotFound"
    template = "Access key {access_key} could not be found."


class Conflict(DomainError):
    code = "virtualserver.Conflict"
    template = "The request conflicts with the current state: {reason}."


class InvalidImageStatus(Conflict):
    code = "virtualserver.image.InvalidStatus"
    template = "Image {image_id} is {status}; this needs {expected}."


class ImageProtected(Conflict):
    code = "virtualserver.image.Protected"
    template = "Image {image_id} is protected and cannot be deleted."


class ImageNotShared(Conflict):
    code = "virtualserver.image.NotShared"
    template = "Image {image_id} has visibility {visibility}; members need visibility shared."


class MemberExists(Conflict):
    code = "virtualserver.image.MemberExists"
    template = "Account {member_id} is already a member of image {image_id}."


class ConcurrentUpdate(Conflict):
    code = "virtualserver.image.ConcurrentUpdate"
    template = "Image {image_id} was changed by another request; try again."


class ImageDataMissing(Conflict):
    """The image is ``active`` but the blob store has nothing under its key: the operator must restore
    the data (or delete the image); retrying will not help, hence a conflict and not a 503."""

    code = "virtualserver.image.DataMissing"
    template = "The data of image {image_id} is missing from the image store; ask the operator to restore it."


class ImageDataCorrupt(Conflict):
    """The integrity scrub found the stored bytes differ from the image's size or checksums: serving them
    would hand out something else than was imported. The operator restores the data (or deletes it)."""

    code = "virtualserver.image.DataCorrupt"
    template = (
        "The data of image {image_id} failed its integrity check (it no longer matches its checksums); "
        "ask the operator to restore it."
    )


class PayloadTooLarge(DomainError):
    code = "virtualserver.request.TooLarge"
    template = "The request body is larger than {limit} bytes."


class QuotaExceeded(DomainError):
    """An account's quota would be exceeded; ``limit`` and ``usage`` are numbers (images or bytes)."""

    code = "virtualserver.quota.Exceeded"
    template = "A quota of this account is exceeded: the limit is {limit} and {usage} are in use."


class ImageCountQuotaExceeded(QuotaExceeded):
    code = "virtualserver.quota.ImageCountTotalExceeded"
    template = (
        "Quota image_count_total exceeded: this account may have {limit} images and has {usage}; "
        "delete images or ask the operator to raise the quota."
    )


class ImageSizeQuotaExceeded(QuotaExceeded):
    code = "virtualserver.quota.ImageSizeTotalExceeded"
    template = (
        "Quota image_size_total exceeded: this account may store {limit} bytes and this would make "
        "{usage} bytes (active images and imports or uploads in flight); delete images or ask the "
        "operator to raise the quota."
    )


class UploadingQuotaExceeded(QuotaExceeded):
    code = "virtualserver.quota.ImageCountUploadingExceeded"
    template = (
        "Quota image_count_uploading exceeded: this account may run {limit} imports and uploads at "
        "once and runs {usage}; wait for one to finish or ask the operator to raise the quota."
    )


class RateLimited(DomainError):
    code = "virtualserver.request.RateLimited"
    template = "Too many requests; retry after {retry_after} seconds."


class Unavailable(DomainError):
    code = "virtualserver.Unavailable"
    template = "The service is temporarily unavailable: {reason}."


class AuditUnavailable(Unavailable):
    """The audit record of a change could not be written: the change is refused rather than made
    unrecorded (503, like any other store the service cannot use)."""
