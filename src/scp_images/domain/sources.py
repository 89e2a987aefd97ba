"""Who may read which import source, and how an import URL is shown: pure rules, no I/O.

An object-storage source (``s3://bucket/key`` or an SCP Object Storage URL) is read with the service's own
S3 credential, which can read more than any one tenant may. So reading one is an act of the calling
account, decided here from the URL's text and the account's grants before anything is requested:

- an SCP Object Storage URL must name the caller's own account in its ``{account}`` segment;
- the bucket and key must lie inside a grant an operator gave the account (``admin source grant``);
- the blob store's own bucket is never a source, whatever grants say.

A grant's prefix matches whole ``/``-separated segments of the key: prefix ``a/b`` covers the key ``a/b``
and every key below ``a/b/``, but not ``a/bc/x``. The empty prefix covers the whole bucket, and one trailing
slash is only another spelling of the same folder (``a/b/`` is stored as ``a/b``).

Allowlisted ``https`` sources need no grant: a presigned URL proves access by itself, and they are read
without any service credential.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from scp_images.domain.errors import (
    ImportSourceForbidden,
    ImportSourceOtherAccount,
    InvalidSourceGrant,
)
from scp_images.domain.principal import ACCOUNT_ID

BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_PREFIX_BYTES = 1024  # S3's limit on a whole key
REDACTED = "REDACTED"
MAX_SHOWN_URL = 1024  # the image row's url column
_SHOWN_KEY_CHARS = 300


@dataclass(frozen=True)
class ObjectStorageLocation:
    """An object read through the configured S3-compatible endpoint. ``account`` is None for ``s3://``."""

    bucket: str
    key: str
    account: str | None = None


@dataclass(frozen=True, slots=True)
class SourceGrant:
    """Account ``account_id`` may import objects of ``bucket`` whose key lies under ``prefix``."""

    account_id: str
    bucket: str
    prefix: str  # normalised: "" (the whole bucket) or segments with no leading or trailing "/"

    def covers(self, location: ObjectStorageLocation) -> bool:
        return location.bucket == self.bucket and prefix_covers(self.prefix, location.key)


def is_valid_bucket(name: str) -> bool:
    return BUCKET_NAME.fullmatch(name) is not None and ".." not in name


def is_protected(bucket: str, protected_buckets: Collection[str]) -> bool:
    """The blob store's bucket (compared without case: some S3 servers keep old mixed-case names)."""
    return bucket.lower() in {name.lower() for name in protected_buckets}


def prefix_covers(prefix: str, key: str) -> bool:
    """Whole segments: the prefix's segments are the key's first segments (``""`` covers every key)."""
    if not prefix:
        return True
    wanted = prefix.split("/")
    return key.split("/")[: len(wanted)] == wanted


def normalise_prefix(prefix: str) -> str:
    """The stored form of a grant's prefix; refuses what could never match a key segment-wise."""
    shown = prefix[:80]
    prefix = prefix.removesuffix("/")
    if not prefix:
        return ""
    if len(prefix.encode("utf-8", "surrogatepass")) > MAX_PREFIX_BYTES:
        raise InvalidSourceGrant(reason=f"the prefix is longer than {MAX_PREFIX_BYTES} bytes")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in prefix):
        raise InvalidSourceGrant(reason="the prefix contains control characters")
    if any(part in ("", ".", "..") for part in prefix.split("/")):
        raise InvalidSourceGrant(
            reason=f"the prefix {shown!r} has an empty, '.' or '..' segment (write it as a/b or a/b/)"
        )
    return prefix


def new_grant(account_id: str, bucket: str, prefix: str, protected_buckets: Collection[str]) -> SourceGrant:
    """A validated grant; the blob store's bucket can never be granted, not even a prefix of it."""
    if not ACCOUNT_ID.fullmatch(account_id):
        raise InvalidSourceGrant(reason="an account id is 32 lower-case hex characters")
    if not is_valid_bucket(bucket):
        raise InvalidSourceGrant(
            reason=f"{bucket[:80]!r} is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')"
        )
    if is_protected(bucket, protected_buckets):
        raise InvalidSourceGrant(
            reason=f"bucket {bucket} holds this service's image data and can never be an import source"
        )
    return SourceGrant(account_id, bucket, normalise_prefix(prefix))


def _shown(location: ObjectStorageLocation) -> str:
    key = location.key if len(location.key) <= _SHOWN_KEY_CHARS else location.key[:_SHOWN_KEY_CHARS] + "..."
    return f"s3://{location.bucket}/{key}"


def require_readable(
    account_id: str,
    location: ObjectStorageLocation,
    grants: Iterable[SourceGrant],
    protected_buckets: Collection[str],
) -> None:
    """Raise ``ImportSourceForbidden`` unless ``account_id`` may read ``location``.

    The answer depends only on the URL and the grants, never on whether the object exists. The blob store's
    bucket is refused with the same text as any ungranted bucket, so a refusal does not name it either.
    """
    if location.account is not None and location.account.lower() != account_id:
        raise ImportSourceOtherAccount(account=location.account.lower())
    granted = any(grant.account_id == account_id and grant.covers(location) for grant in grants)
    if not granted or is_protected(location.bucket, protected_buckets):
        raise ImportSourceForbidden(location=_shown(location))


def redact_url(url: str | None) -> str | None:
    """An import URL as it may be shown (API answers, logs): the values of an http(s) URL's query and its
    fragment are replaced by ``REDACTED``, parameter names kept (``?X-Amz-Signature=REDACTED``), so a
    presigned signature or token is never echoed. ``s3://`` keys are literal and shown as they are.
    Redacting twice gives the same text; the result is never longer than ``MAX_SHOWN_URL`` for a URL that
    was not."""
    if url is None or not url[:8].lower().startswith(("https:", "http:")):
        return url
    head, hash_mark, _ = url.partition("#")
    base, query_mark, query = head.partition("?")
    fragment = f"#{REDACTED}" if hash_mark else ""
    if not query_mark:
        return base + fragment
    shown = f"{base}?{'&'.join(_redact_parameter(parameter) for parameter in query.split('&'))}{fragment}"
    # Many bare parameters grow when redacted; past what the image row holds, the names go too.
    return shown if len(shown) <= MAX_SHOWN_URL else f"{base}?{REDACTED}{fragment}"


def _redact_parameter(parameter: str) -> str:
    if not parameter:
        return parameter
    name, equals, _ = parameter.partition("=")
    # A bare parameter (``?abc123``) may itself be the token: nothing of it is kept.
    return f"{name}={REDACTED}" if equals else REDACTED
