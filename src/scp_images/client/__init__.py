"""The scp-images SDK.

    with Client() as client:  # SCP_ENDPOINT, SCP_ACCESS_KEY, SCP_SECRET_KEY or ~/.scpconf, as the CLI
        image = client.images.create_from_file("disk.qcow2", "my-image", "ubuntu")
        # a VMDK, OVA, VHDX, VHD or VDI is converted into qcow2 after its upload: wait for it
        image = client.images.wait(client.images.create_from_file("disk.vmdk", "vm", "ubuntu").id)
        for image in client.images.iter(status="active"):
            ...

Resources: ``client.images`` (``Images``) and ``client.images.members`` (``Members``). Exceptions are
drawn in ``scp_images.client._exceptions``; all derive from ``ScpImagesError``.
"""

from scp_images.client._client import DEFAULT_API_VERSION, Client
from scp_images.client._exceptions import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ImageKilled,
    IntegrityError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ScpImagesError,
    ServerError,
    TransportError,
    WaitTimeout,
)
from scp_images.client._images import Images
from scp_images.client._members import MEMBER_STATUSES, Members
from scp_images.client._models import Image, ImportSource, ImportStatus, Member, OriginalDisk
from scp_images.client._transfer import ProgressCallback
from scp_images.client.credentials import (
    Credentials,
    CredentialsError,
    resolve_config,
    resolve_credentials,
    resolve_language,
)

__all__ = [
    "DEFAULT_API_VERSION",
    "MEMBER_STATUSES",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "Credentials",
    "CredentialsError",
    "Image",
    "ImageKilled",
    "Images",
    "ImportSource",
    "ImportStatus",
    "IntegrityError",
    "Member",
    "Members",
    "NotFoundError",
    "OriginalDisk",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProgressCallback",
    "QuotaExceededError",
    "RateLimitError",
    "ScpImagesError",
    "ServerError",
    "TransportError",
    "WaitTimeout",
    "resolve_config",
    "resolve_credentials",
    "resolve_language",
]
