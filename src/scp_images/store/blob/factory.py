"""Pick a blob store by URL; called once by the composition root (``scp_images.app``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from scp_images.store.blob.base import BlobStore
from scp_images.store.blob.filesystem import FilesystemBlobStore
from scp_images.store.blob.s3 import S3BlobStore

__all__ = ["create_blob_store"]


def create_blob_store(
    url: str,
    *,
    s3_endpoint_url: str | None = None,
    s3_access_key_id: str | None = None,
    s3_secret_access_key: str | None = None,
    s3_region: str | None = None,
    s3_public_endpoint_url: str | None = None,
) -> BlobStore:
    """``file:///abs/path`` (the directory is created) or ``s3://bucket/optional/prefix``."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return _filesystem_store(url, parts.netloc, unquote(parts.path))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"blob store URL {url!r} names no bucket: use s3://bucket/optional/prefix")
        return S3BlobStore(
            parts.netloc,
            unquote(parts.path),
            endpoint_url=s3_endpoint_url,
            access_key_id=s3_access_key_id,
            secret_access_key=s3_secret_access_key,
            region=s3_region,
            public_endpoint_url=s3_public_endpoint_url,
        )
    raise ValueError(
        f"unsupported blob store URL {url!r}: expected file:///absolute/path or s3://bucket/optional/prefix"
    )


def _filesystem_store(url: str, host: str, path: str) -> BlobStore:
    if host not in ("", "localhost") or not path.startswith("/"):
        raise ValueError(f"blob store URL {url!r} must be file:///absolute/path")
    return FilesystemBlobStore(Path(path))
