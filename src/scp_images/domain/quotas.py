"""Quotas per account, named after Glance's unified limits: what a limit is, what counts against it and
when a request exceeds it. Plain rules; the store counts and the services decide when to ask.

- ``image_count_total`` (``images``): every image that is not deleted, whatever its status;
- ``image_size_total`` (``bytes``): bytes of active images plus what in-flight imports and uploads hold;
- ``image_count_uploading`` (``uploading``): imports and uploads pending or running at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from scp_images.domain.errors import (
    ImageCountQuotaExceeded,
    ImageSizeQuotaExceeded,
    InvalidRequest,
    UploadingQuotaExceeded,
)

UNLIMITED = -1  # what an operator writes for "no limit" in an override
KEYS = ("images", "bytes", "uploading")


@dataclass(frozen=True, slots=True)
class Quota:
    """Effective limits of one account; None is unlimited."""

    images: int | None = None
    bytes: int | None = None
    uploading: int | None = None


@dataclass(frozen=True, slots=True)
class Overrides:
    """An operator's per-account values: None leaves the default, ``UNLIMITED`` lifts the limit."""

    images: int | None = None
    bytes: int | None = None
    uploading: int | None = None

    def over(self, earlier: Overrides | None) -> Overrides:
        """These changes applied to earlier overrides: a value not named here stays as it was."""
        if earlier is None:
            return self
        return Overrides(
            self.images if self.images is not None else earlier.images,
            self.bytes if self.bytes is not None else earlier.bytes,
            self.uploading if self.uploading is not None else earlier.uploading,
        )

    def validated(self) -> Overrides:
        for key in KEYS:
            value = getattr(self, key)
            if value is not None and value < UNLIMITED:
                raise InvalidRequest(reason=f"a quota is a number of 0 or more, or -1 for unlimited ({key})")
        return self


@dataclass(frozen=True, slots=True)
class Usage:
    images: int = 0
    bytes: int = 0
    uploading: int = 0


def effective(defaults: Quota, overrides: Overrides | None) -> Quota:
    if overrides is None:
        return defaults

    def pick(override: int | None, default: int | None) -> int | None:
        if override is None:
            return default
        return None if override == UNLIMITED else override

    return Quota(
        pick(overrides.images, defaults.images),
        pick(overrides.bytes, defaults.bytes),
        pick(overrides.uploading, defaults.uploading),
    )


def applies(quota: Quota, *, images: int = 0, uploading: int = 0, bytes_room: bool = False) -> bool:
    """Whether any limit the request would count against is set (else nothing needs counting)."""
    return (
        (images > 0 and quota.images is not None)
        or (uploading > 0 and quota.uploading is not None)
        or (bytes_room and quota.bytes is not None)
    )


def require_room(
    quota: Quota, usage: Usage, *, images: int = 0, uploading: int = 0, bytes_room: bool = False
) -> None:
    """Refuse a request adding ``images`` images and ``uploading`` transfers; ``bytes_room``: it is about
    to receive bytes, so the account must have at least one byte left."""
    if images and quota.images is not None and usage.images + images > quota.images:
        raise ImageCountQuotaExceeded(limit=quota.images, usage=usage.images)
    if uploading and quota.uploading is not None and usage.uploading + uploading > quota.uploading:
        raise UploadingQuotaExceeded(limit=quota.uploading, usage=usage.uploading)
    if bytes_room and quota.bytes is not None and usage.bytes >= quota.bytes:
        raise ImageSizeQuotaExceeded(limit=quota.bytes, usage=usage.bytes)


def reservation(limit: int | None, others: int, received: int, step: int) -> int:
    """What an in-flight write holds once it has received ``received`` bytes, while the rest of its account
    holds ``others``: one ``step`` ahead (so the database is asked once a step, not once a chunk), but never
    past the limit, so writers of one account together never store more than it. Refused as soon as the
    bytes received themselves would pass it."""
    if limit is not None and others + received > limit:
        raise ImageSizeQuotaExceeded(limit=limit, usage=others + received)
    ahead = received + step
    return ahead if limit is None else min(ahead, limit - others)
