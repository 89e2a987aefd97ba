"""Domain errors. Each has a stable ``code``, an English ``template`` (what happened) and an English
``hint`` (what to do next); the HTTP layer maps codes to statuses and the Korean texts of both in one
table (``scp_images.http.errors``). A subclass may share its parent's code (a more precise text for the
same answer): clients depend on codes and statuses, never on the text.

Texts are read by tenants (the console shows them): they never name an operator's setting.

Tree::

    DomainError
    ├── Unauthenticated          401  bad or missing signature, unknown/disabled key, stale timestamp
    ├── Forbidden                403  action not allowed for the key, account mismatch, not the owner
    │   ├── ImportSourceForbidden  this account may not read the import source (no grant, another
    │   │                          account's Object Storage, the blob store's bucket)
    │   ├── ReaderMayNot         a reader key asked for a change
    │   ├── ImageDeactivated     the image's bytes are withheld by its owner
    │   ├── AdminRequired        a call only an admin key may make (the v2 tasks API, stores detail)
    │   ├── MetadefAdminOnly     metadata definitions are changed by admins only
    │   └── Attribute…, Owner…, LocationsNotShown: v2 names a caller may not write
    ├── InvalidRequest           400  malformed path, query or body; bad API version
    │   ├── UnsupportedApiVersion
    │   ├── DiskImageRejected    the bytes are not a safe qcow2 (reason says why)
    │   ├── RestoreMismatch      an operator's restore file is not the image's bytes
    │   ├── ImportSourceRejected the import URL is malformed, unsupported or cannot be read
    │   └── InvalidSourceGrant   an operator's source grant is malformed or names the blob store
    ├── NotFound                 404  image, member, account, import, task, server, source grant, metadef
    ├── Conflict                 409  wrong status, protected, already a member, lost race
    │   ├── MetadefExists        a metadata definition of that name exists
    │   ├── MetadefProtected     a protected namespace's definitions (403 on the v2 edge)
    │   ├── AdminNeedsOperatorAccount  the admin role on a key of an account not marked operator
    │   ├── ImageDataMissing     an active image whose bytes are gone from the blob store
    │   ├── ImageDataCorrupt     the integrity scrub found an active image's bytes changed
    │   └── PropertyMissing, PropertyPresent, UnknownStore  a v2 patch or import names what is not there
    ├── UploadInterrupted        408  the upload's body stopped before its end
    ├── PayloadTooLarge          413
    ├── QuotaExceeded            413  an account quota (one code per limit: images, bytes, uploading)
    ├── MetadefLimitReached      413  a bound on the number of metadata definitions
    ├── RateLimited              429
    └── Unavailable              503  database or blob store down
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "virtualserver.InternalError"
    template: ClassVar[str] = "Internal error."
    hint: ClassVar[str] = "Try again; if it keeps failing, give the operator the request id."

    def __init__(self, template: str | None = None, /, **params: Any) -> None:
        self.params = params
        if template is not None:
            self.template = template  # type: ignore[misc]
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """What happened, then what to do next."""
        return compose(self.template, self.hint, self.params)


def _format(template: str, params: dict[str, Any]) -> str:
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template


def compose(template: str, hint: str, params: dict[str, Any]) -> str:
    """One sentence of what happened and one of the next step (the hint is left out when it cannot
    be filled in)."""
    text = _format(template, params)
    if not hint:
        return text
    try:
        return f"{text} {hint.format(**params)}"
    except (KeyError, IndexError):
        return text


class Unauthenticated(DomainError):
    code = "virtualserver.auth.Unauthenticated"
    template = "The request could not be authenticated: {reason}."
    hint = "Check the access key and secret key the request is signed with."


class BadCredentials(Unauthenticated):
    """One text for an unknown key, a disabled key and a wrong signature: nothing tells which."""

    template = "The request could not be authenticated: the access key or the signature is not valid."
    hint = (
        "Check the access key and that the secret key is the one made with it "
        "(the CLI and SDK read SCP_ACCESS_KEY and SCP_SECRET_KEY, else ~/.scpconf/credentials.json)."
    )


class ClockSkew(Unauthenticated):
    template = "Scp-Timestamp is outside the allowed time window ({window} seconds from the server's clock)."
    hint = "Set this computer's clock right (NTP) and send the request again."


class TimestampMalformed(Unauthenticated):
    template = (
        "Scp-Timestamp must be the time in epoch milliseconds, written as digits only, with no sign, "
        "space or leading zero."
    )
    hint = "Sign the request again with an SCP client or SDK, which write the timestamp this way."


class Forbidden(DomainError):
    code = "virtualserver.auth.Forbidden"
    template = "You are not allowed to perform {action}."
    hint = "Use a key of an account that may do this, or ask the operator."


class AdminRequired(Forbidden):
    code = "virtualserver.auth.AdminRequired"
    template = "Only a key with the admin role may use {what}."
    hint = "Use an admin key of an operator account, or ask the operator."


class ReaderMayNot(Forbidden):
    code = "virtualserver.auth.ReaderRole"
    template = "This access key has the reader role: it may read, list and download, not perform {action}."
    hint = "Use a key with the member role, or ask the operator to give this key that role."


class NotOwner(Forbidden):
    code = "virtualserver.image.NotOwner"
    template = "Only the owner of image {image_id} may do this."
    hint = "Use a key of the image's owner account."


class NotTheMember(Forbidden):
    code = "virtualserver.image.NotTheMember"
    template = "Only member {member_id} may accept or reject image {image_id}."
    hint = "Use a key of account {member_id}."


class ImageDeactivated(Forbidden):
    code = "virtualserver.image.Deactivated"
    template = "Image {image_id} is deactivated: its bytes cannot be downloaded."
    hint = "Ask its owner to reactivate it."


class AttributeReadOnly(Forbidden):
    """An image attribute the service sets (Glance's "read-only" answer on the OpenStack edge)."""

    code = "virtualserver.image.AttributeReadOnly"
    template = "Attribute '{name}' is read-only."
    hint = "The service sets it: leave it out of the request."


class AttributeReserved(Forbidden):
    """A name the service keeps for itself: Glance's ``os_glance`` namespace and its internal names."""

    code = "virtualserver.image.AttributeReserved"
    template = "Attribute '{name}' is reserved."
    hint = (
        "Names starting with os_glance, and location, locations, deleted and deleted_at, are the "
        "service's; use another name."
    )


class AttributeNotRemovable(Forbidden):
    code = "virtualserver.image.AttributeNotRemovable"
    template = "Property {name} may not be removed."
    hint = "Replace its value instead."


class OwnerNotYours(Forbidden):
    code = "virtualserver.image.OwnerNotYours"
    template = "You are not permitted to create images owned by '{owner}'."
    hint = "Leave owner out, or send your own project id."


class OwnerNotChangeable(Forbidden):
    code = "virtualserver.image.OwnerNotChangeable"
    template = "Owner can't be updated by non admin."
    hint = "Only an admin may give an image to another project; leave owner out of the patch."


class LocationsNotShown(Forbidden):
    code = "virtualserver.image.LocationsNotShown"
    template = "It's not allowed to {verb} locations if locations are invisible."
    hint = "This service keeps image data in its own store: upload or import the data instead."


class AccountMismatch(Forbidden):
    code = "virtualserver.auth.AccountMismatch"
    template = "Scp-AccountId {account_id} does not match the access key's account."
    hint = "Send the key's own account id in Scp-AccountId (--account-id), or leave it out."


class MetadefAdminOnly(Forbidden):
    code = "virtualserver.metadef.AdminOnly"
    template = "Only an admin may create, change or delete metadata definitions."
    hint = "Use a key with the admin role, or ask the operator."


class ImportSourceForbidden(Forbidden):
    """Decided from the URL and the account's grants alone, so the text never depends on whether the
    object exists; the blob store's bucket gets the same text as any ungranted bucket."""

    code = "virtualserver.image.ImportSourceForbidden"
    template = "This account may not import {location}: no import source grant of the account covers it."
    hint = (
        "Ask the operator to grant the bucket ('scp-images admin source grant'), or upload the file instead."
    )


class ImportSourceOtherAccount(ImportSourceForbidden):
    template = (
        "This account may not import from the SCP Object Storage of account {account}: "
        "an Object Storage URL must name the caller's own account."
    )
    hint = "Use a URL of your own account's Object Storage, or upload the file instead."


class InvalidRequest(DomainError):
    code = "virtualserver.request.Invalid"
    template = "The request is invalid: {reason}."
    hint = "Correct it and send it again."


class MalformedImageId(InvalidRequest):
    template = (
        "{value!r} is not an image id: an image id is a UUID, like 0b5e8e3a-9d3c-4f7a-8a1e-2c4d6f8a0b1c."
    )
    hint = "Find the id with 'scp-images image list' (the id column) or on the image's page in the console."


class InvalidImageName(InvalidRequest):
    template = (
        "The image name {name!r} is refused: a name has 1 to {max_length} characters, each a letter "
        "(A-Z, a-z), a digit, a hyphen '-', an underscore '_' or a space."
    )
    hint = "Replace any other character (such as '.') with '-' or '_', e.g. 'ubuntu-22-04'."


class InvalidField(InvalidRequest):
    """A body field refused by its rule, said in words (never as a regular expression)."""

    template = "The field {field} is refused: {rule}."
    hint = "Correct it and send it again."


class UnsupportedApiVersion(InvalidRequest):
    code = "virtualserver.request.UnsupportedApiVersion"
    template = "API version {version!r} is not supported; supported: {supported}."
    hint = "Send one of them in the Scp-Api-Version header (e.g. 'virtualserver 1.3')."


class ApiVersionRetired(UnsupportedApiVersion):
    code = "virtualserver.request.ApiVersionRetired"
    template = "API version {version!r} is no longer supported since {sunset}; supported: {supported}."


_SEND_QCOW2 = "Send a qcow2 disk image (convert one with 'qemu-img convert -O qcow2 IN OUT.qcow2')."
_FLATTEN = "Make it one self-contained file with 'qemu-img convert -O qcow2 IN OUT.qcow2' and send that."
_SMALLER = "Send a smaller image, or ask the operator about the limit."
_ONE_VMDK = (
    "Export the disk again as one monolithicSparse or streamOptimized VMDK or as an OVA "
    "('qemu-img convert -O vmdk -o subformat=streamOptimized IN OUT.vmdk'), and send that."
)
_DAMAGED = "The file is damaged or incomplete: export the disk again and send the whole file."

# reason -> the next step, in English, for every refusal of a disk image (the inspectors', the
# converter's). ``failures.NEXT_STEPS`` includes them; the Korean texts are in ``http/errors.py``.
DISK_NEXT_STEPS: dict[str, str] = {
    "not_qcow2": (
        "Send a disk image in a format this service takes (qcow2, VMDK, OVA, VHDX, VHD or VDI), or convert "
        "it with 'qemu-img convert -O qcow2 IN OUT.qcow2'; for a raw disk, say so ('--input-format raw' "
        "with the CLI, input_format=raw on an SCP upload or import, disk_format raw on the OpenStack API)."
    ),
    "truncated": "The file is incomplete: send the whole file again.",
    "bad_geometry": _SEND_QCOW2,
    "corrupt": "Repair it ('qemu-img check -r all') or convert it again, and send that.",
    "unknown_incompatible_features": _SEND_QCOW2,
    "polyglot": _SEND_QCOW2,
    "format_mismatch": "Create the image with the disk format of the file, or convert the file.",
    "encrypted": "Send an unencrypted image ('qemu-img convert -O qcow2' without encryption).",
    "backing_file": _FLATTEN,
    "external_data_file": _FLATTEN,
    "too_large": _SMALLER,
    "virtual_size_too_large": _SMALLER,
    # formats converted into qcow2 (formats/vmdk.py, ova.py, vhdx.py, vhd.py, vdi.py)
    "unknown_format": (
        "Send a disk image in an accepted format (qcow2, VMDK, OVA, VHDX, VHD or VDI); for a raw disk, "
        "say so ('--input-format raw' with the CLI, input_format=raw on an SCP upload or import, "
        "disk_format raw on the OpenStack API)."
    ),
    "format_not_accepted": (
        "This service does not take that format: convert the disk with "
        "'qemu-img convert -O qcow2 IN OUT.qcow2', or ask the operator."
    ),
    "vmdk_descriptor_only": _ONE_VMDK,
    "vmdk_create_type": _ONE_VMDK,
    "vmdk_extent": _ONE_VMDK,
    "vmdk_parent": (
        "This is a delta (snapshot) disk: consolidate its snapshots, or convert the chain into one "
        "file, and send that."
    ),
    "vmdk_protocol": _ONE_VMDK,
    "vmdk_header": _DAMAGED,
    "vmdk_outside_file": _DAMAGED,
    "vhdx_parent": (
        "This is a differencing disk: merge it into its parent (Hyper-V: Edit Disk, Merge) and send "
        "the merged disk."
    ),
    "vhdx_structure": _DAMAGED,
    "vhd_checksum": _DAMAGED,
    "vhd_disk_type": "Send a fixed or dynamic VHD: merge a differencing disk into its parent first.",
    "vhd_structure": _DAMAGED,
    "vdi_image_type": "Send a normal or fixed VDI: merge its snapshots (or clone the disk) first.",
    "vdi_structure": _DAMAGED,
    "ova_member": "Export the OVA again: its members must be plain files with plain names.",
    "ova_descriptor": "Export the OVA again: it must hold one plain OVF descriptor (no DTD, no entities).",
    "ova_disks": "Send an OVA with exactly one disk, or upload that disk's VMDK by itself.",
    "conversion_failed": (
        "Check the disk with 'qemu-img check', then send it again; if it keeps failing, tell the "
        "operator the image id."
    ),
    "conversion_timeout": "Send a smaller disk, or ask the operator about the conversion time limit.",
    "conversion_output": "Tell the operator the image id: the converted disk did not pass inspection.",
    "no_temp_space": "The server has no room to convert the disk now: try again later, or ask the operator.",
}


class DiskImageRejected(InvalidRequest):
    """The image data is not a disk this service will store or convert. ``reason`` is a stable short
    word, one of ``DISK_NEXT_STEPS``; ``detail`` says which rule, and where (an offset, a name)."""

    code = "virtualserver.image.DiskImageRejected"
    template = "The image data was refused ({reason}): {detail}."
    hint = _SEND_QCOW2

    def __init__(self, reason: str, detail: str) -> None:
        self.hint = DISK_NEXT_STEPS.get(reason, _SEND_QCOW2)  # type: ignore[misc]
        super().__init__(reason=reason, detail=detail)

    @property
    def reason(self) -> str:
        return str(self.params["reason"])


class RestoreMismatch(InvalidRequest):
    code = "virtualserver.image.RestoreMismatch"
    template = "The file is not the data of image {image_id} ({detail}); nothing was written."
    hint = "Give the file that was backed up for this image."


class UploadInterrupted(DomainError):
    """The client stopped sending (disconnected, or too slow) before the upload's end."""

    code = "virtualserver.image.UploadInterrupted"
    template = "The upload stopped before its end ({reason}); the image is queued again."
    hint = "Send the file again."


class ImportSourceRejected(InvalidRequest):
    code = "virtualserver.image.ImportSourceRejected"
    template = "The import URL cannot be used: {reason}."
    hint = "Check the URL and that the file is there, or upload the file instead."


class NoObjectStorage(ImportSourceRejected):
    """The tenant's text: the operator's settings are named in the operator's log, not here."""

    template = "This service has no object storage configured, so it cannot import {location}."
    hint = "Upload the file instead ('scp-images image create --file', or Upload in the console)."


class InvalidSourceGrant(InvalidRequest):
    code = "virtualserver.image.InvalidSourceGrant"
    template = "The import source grant is invalid: {reason}."
    hint = "Give a bucket name and, optionally, a key prefix."


class NotFound(DomainError):
    code = "virtualserver.NotFound"
    template = "The resource could not be found."
    hint = "Check the id and that your account can see it."


class ImageNotFound(NotFound):
    code = "virtualserver.image.NotFound"
    template = "Image {image_id} could not be found."
    hint = (
        "Check the id with 'scp-images image list'; an image shared with you is listed once you "
        "accept it ('scp-images image pending')."
    )


class MemberNotFound(NotFound):
    code = "virtualserver.image.MemberNotFound"
    template = "Member {member_id} of image {image_id} could not be found."
    hint = "See the image's members with 'scp-images image member list {image_id}'."


class AccountNotFound(NotFound):
    code = "virtualserver.account.NotFound"
    template = "Account {account_id} could not be found."
    hint = "Check the account id (an operator lists them with 'scp-images admin account list')."


class TaskNotFound(NotFound):
    code = "virtualserver.task.NotFound"
    template = "Task {task_id} could not be found."
    hint = "Check the id: 'GET /v2/tasks' lists the tasks, and a finished one expires after 48 hours."


class ImportNotFound(NotFound):
    code = "virtualserver.image.ImportNotFound"
    template = "Image {image_id} has no import."
    hint = "Start one with 'scp-images image import {image_id} --url …', or upload a file to it."


class SourceGrantNotFound(NotFound):
    code = "virtualserver.image.SourceGrantNotFound"
    template = "Account {account_id} has no import source grant for bucket {bucket} with prefix {prefix!r}."
    hint = "List the grants with 'scp-images admin source list'."


class ServerNotFound(NotFound):
    code = "virtualserver.server.NotFound"
    template = "Server {server_id} could not be found."
    hint = "Check the server id."


class MetadefNotFound(NotFound):
    code = "virtualserver.metadef.NotFound"
    template = "The metadata definition {kind} {name!r} could not be found."
    hint = "See what exists with GET /v2/metadefs/namespaces and the namespace's own lists."


class AccessKeyNotFound(NotFound):
    code = "virtualserver.auth.AccessKeyNotFound"
    template = "Access key {access_key} could not be found."
    hint = "List the keys with 'scp-images admin key list'."


class Conflict(DomainError):
    code = "virtualserver.Conflict"
    template = "The request conflicts with the current state: {reason}."
    hint = "Check the current state and try again."


class AdminNeedsOperatorAccount(Conflict):
    """The operator's own commands raise it: only an operator account's keys may hold ``admin``."""

    code = "virtualserver.account.NotOperator"
    template = (
        "Account {account_id} is not an operator account: only keys of an operator account may hold "
        "the admin role."
    )
    hint = (
        "Mark the account first ('scp-images admin account set {account_id} --operator'), "
        "or give the key the member or reader role."
    )


class OperatorAccountHasAdmins(Conflict):
    code = "virtualserver.account.HasAdminKeys"
    template = "Account {account_id} still has keys with the admin role: {keys}."
    hint = (
        "Give them another role first ('scp-images admin key set KEY --role member') or delete them, "
        "then unmark the account."
    )


class InvalidImageStatus(Conflict):
    code = "virtualserver.image.InvalidStatus"
    template = "Image {image_id} is {status}; this needs {expected}."
    hint = "See its status with 'scp-images image show {image_id}' and try again when it is {expected}."


class ImageProtected(Conflict):
    code = "virtualserver.image.Protected"
    template = "Image {image_id} is protected and cannot be deleted."
    hint = "Turn protection off first: scp-images image update {image_id} --no-protected."


class ImageNotShared(Conflict):
    code = "virtualserver.image.NotShared"
    template = "Image {image_id} has visibility {visibility}; only a shared image can have members."
    hint = "Share it first: scp-images image share {image_id}."


class MemberExists(Conflict):
    code = "virtualserver.image.MemberExists"
    template = "Account {member_id} is already a member of image {image_id}."
    hint = "Nothing to do; see its answer with 'scp-images image member show {image_id} {member_id}'."


class ConcurrentUpdate(Conflict):
    code = "virtualserver.image.ConcurrentUpdate"
    template = "Image {image_id} was changed by another request."
    hint = "Send the request again."


class PropertyMissing(Conflict):
    code = "virtualserver.image.PropertyMissing"
    template = "Property {name} does not exist."
    hint = "Add it instead of replacing or removing it; show the image to see its properties."


class PropertyPresent(Conflict):
    code = "virtualserver.image.PropertyPresent"
    template = "Property {name} already present."
    hint = "Replace it instead: with the draft-4 patch form (v2.0), add only creates."


class UnknownStore(Conflict):
    code = "virtualserver.image.UnknownStore"
    template = "Store {store} is not available on this service."
    hint = "GET /v2/info/stores names the one store; leave stores out to use it."


class ImageDataMissing(Conflict):
    """The image is ``active`` but the blob store has nothing under its key: the operator must restore
    the data (or delete the image); retrying will not help, hence a conflict and not a 503."""

    code = "virtualserver.image.DataMissing"
    template = "The data of image {image_id} is missing from the image store."
    hint = "Ask the operator to restore it."


class ImageDataCorrupt(Conflict):
    """The integrity scrub found the stored bytes differ from the image's size or checksums: serving them
    would hand out something else than was imported. The operator restores the data (or deletes it)."""

    code = "virtualserver.image.DataCorrupt"
    template = "The data of image {image_id} failed its integrity check (it no longer matches its checksums)."
    hint = "Ask the operator to restore it."


class MetadefExists(Conflict):
    code = "virtualserver.metadef.Exists"
    template = "The metadata definition {kind} {name!r} exists already."
    hint = "Choose another name, or change the existing one with PUT."


class MetadefProtected(Conflict):
    """403 on the OpenStack edge, as Glance answers."""

    code = "virtualserver.metadef.Protected"
    template = "Namespace {namespace!r} is protected: its definitions cannot be deleted."
    hint = "Set protected to false with PUT /v2/metadefs/namespaces/{namespace} first."


class MetadefLimitReached(DomainError):
    code = "virtualserver.metadef.LimitReached"
    template = "There can be at most {limit} metadata definition {kind} {where}."
    hint = "Delete some you no longer need first."


class PayloadTooLarge(DomainError):
    code = "virtualserver.request.TooLarge"
    template = "The request body is larger than {limit} bytes."
    hint = "Send a smaller body; an image's bytes are uploaded to its file, not sent in a JSON body."


class QuotaExceeded(DomainError):
    """An account's quota would be exceeded; ``limit`` and ``usage`` are numbers (images or bytes)."""

    code = "virtualserver.quota.Exceeded"
    template = "A quota of this account is exceeded: the limit is {limit} and {usage} are in use."
    hint = "Delete images or ask the operator to raise the quota."


class ImageCountQuotaExceeded(QuotaExceeded):
    code = "virtualserver.quota.ImageCountTotalExceeded"
    template = "Quota image_count_total exceeded: this account may have {limit} images and has {usage}."


class ImageSizeQuotaExceeded(QuotaExceeded):
    code = "virtualserver.quota.ImageSizeTotalExceeded"
    template = (
        "Quota image_size_total exceeded: this account may store {limit} bytes and this would make "
        "{usage} bytes (active images and imports or uploads in flight)."
    )


class UploadingQuotaExceeded(QuotaExceeded):
    code = "virtualserver.quota.ImageCountUploadingExceeded"
    template = (
        "Quota image_count_uploading exceeded: this account may run {limit} imports and uploads at "
        "once and runs {usage}."
    )
    hint = "Wait for one to finish, or ask the operator to raise the quota."


class RateLimited(DomainError):
    code = "virtualserver.request.RateLimited"
    template = "Too many requests."
    hint = "Retry after {retry_after} seconds."


class Unavailable(DomainError):
    code = "virtualserver.Unavailable"
    template = "The service is temporarily unavailable: {reason}."
    hint = "Try again in a minute; if it lasts, tell the operator."


class AuditUnavailable(Unavailable):
    """The audit record of a change could not be written: the change is refused rather than made
    unrecorded (503, like any other store the service cannot use)."""
