"""Reading an object through the configured S3-compatible endpoint (SCP Object Storage, MinIO, Ceph...)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from scp_images.domain.errors import ImportSourceRejected, NoObjectStorage
from scp_images.imports._source_limits import Limits, too_large
from scp_images.imports._source_urls import ObjectStorageLocation

log = logging.getLogger(__name__)

_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})
_DENIED = frozenset({"403", "AccessDenied", "Forbidden"})
_SETTINGS = {
    "endpoint": "SCP_IMAGES_S3_ENDPOINT_URL",
    "access key id": "SCP_IMAGES_S3_ACCESS_KEY_ID",
    "secret access key": "SCP_IMAGES_S3_SECRET_ACCESS_KEY",
}


def _client_config() -> Config:
    return Config(
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        # S3-compatible servers are usually addressed by one host name or an IP, not per-bucket names.
        s3={"addressing_style": "path"},
        # Several S3-compatible servers do not send the CRC checksums newer botocore wants by default;
        # the import pipeline computes its own digests.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


def _shown(location: ObjectStorageLocation) -> str:
    return f"s3://{location.bucket}/{location.key}"


def _refusal(exc: Exception, location: ObjectStorageLocation) -> ImportSourceRejected:
    if not isinstance(exc, ClientError):
        return ImportSourceRejected(
            reason=f"object storage could not be reached for {_shown(location)} ({exc})"
        )
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in _NOT_FOUND:
        return ImportSourceRejected(reason=f"the object {_shown(location)} does not exist")
    if code in _DENIED:
        return ImportSourceRejected(reason=f"this service's credentials may not read {_shown(location)}")
    return ImportSourceRejected(reason=f"object storage answered {code or exc} for {_shown(location)}")


class S3Source:
    def __init__(self, location: ObjectStorageLocation, response: dict[str, Any], limits: Limits) -> None:
        self.total: int | None = response.get("ContentLength")
        self._location = location
        self._body = response["Body"]
        self._limits = limits

    def chunks(self) -> Iterator[bytes]:
        received = 0
        try:
            for chunk in self._body.iter_chunks(self._limits.chunk_size):
                received += len(chunk)
                # The object may have been replaced by a larger one since it was measured.
                if received > self._limits.max_bytes:
                    raise too_large(_shown(self._location), self._limits.max_bytes)
                yield chunk
        except (BotoCoreError, OSError) as exc:
            reason = f"reading {_shown(self._location)} failed after {received} bytes ({exc})"
            raise ImportSourceRejected(reason=reason) from exc

    def close(self) -> None:
        self._body.close()


class S3Reader:
    """One boto3 client for the resolver's lifetime, made on first use (boto3 clients are thread-safe)."""

    def __init__(
        self, endpoint_url: str | None, access_key_id: str | None, secret: str | None, region: str | None
    ) -> None:
        self._settings = {
            "endpoint": endpoint_url,
            "access key id": access_key_id,
            "secret access key": secret,
        }
        self._region = region
        self._client: Any = None
        self._lock = threading.Lock()

    def open(self, location: ObjectStorageLocation, limits: Limits) -> S3Source:
        client = self._get_client(location)
        try:
            size = client.head_object(Bucket=location.bucket, Key=location.key)["ContentLength"]
            if size > limits.max_bytes:
                raise too_large(_shown(location), limits.max_bytes, size)
            response = client.get_object(Bucket=location.bucket, Key=location.key)
        except (ClientError, BotoCoreError) as exc:
            raise _refusal(exc, location) from exc
        return S3Source(location, response, limits)

    def require_configured(self, location: ObjectStorageLocation | None = None) -> None:
        """Refuse object-storage URLs up front when no object storage is configured. The tenant hears
        that there is none; the settings to set are named in the operator's log only."""
        missing = [_SETTINGS[name] for name, value in self._settings.items() if not value]
        if missing:
            log.warning(
                "an object storage import was refused: no object storage is configured (set %s; missing: %s)",
                ", ".join(_SETTINGS.values()),
                ", ".join(missing),
            )
            shown = _shown(location) if location is not None else "an object storage URL"
            raise NoObjectStorage(location=shown)

    def _get_client(self, location: ObjectStorageLocation) -> Any:
        self.require_configured(location)
        with self._lock:
            if self._client is None:
                self._client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=self._settings["endpoint"],
                    aws_access_key_id=self._settings["access key id"],
                    aws_secret_access_key=self._settings["secret access key"],
                    region_name=self._region,
                    config=_client_config(),
                )
            return self._client
