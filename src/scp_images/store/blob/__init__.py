"""Where image bytes live: the ``BlobStore`` contract and its filesystem and S3 implementations.

Exceptions::

    KeyError
    └── BlobNotFound          no committed blob under the key
    Exception
    └── BlobStoreUnavailable  the store cannot be reached or failed (readiness probe, 503)

Invalid keys and misuse of a closed writer raise ``ValueError``.
"""

from scp_images.store.blob.base import (
    BlobNotFound,
    BlobStore,
    BlobStoreUnavailable,
    BlobWriter,
    PresignsReads,
    validate_key,
)
from scp_images.store.blob.factory import create_blob_store
from scp_images.store.blob.filesystem import FilesystemBlobStore
from scp_images.store.blob.s3 import S3BlobStore

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "BlobStoreUnavailable",
    "BlobWriter",
    "FilesystemBlobStore",
    "PresignsReads",
    "S3BlobStore",
    "create_blob_store",
    "validate_key",
]
