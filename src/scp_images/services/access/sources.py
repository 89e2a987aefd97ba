"""Import sources read on behalf of an account, and the grants operators give accounts.

``ImportSources`` is what ``ImageService`` (at create and import time) and the ``ImportRunner`` (when a job
starts) call: every URL is checked as text first (400: malformed, unsupported, not allowlisted), then
against the account's grants (403), and only then opened. The grant check reads nothing but the database,
so a refusal is decided before any request reaches object storage and cannot tell whether an object exists.
"""

from __future__ import annotations

from collections.abc import Collection

from scp_images.domain.audit import AuditAction
from scp_images.domain.errors import AccountNotFound, SourceGrantNotFound
from scp_images.domain.principal import Principal
from scp_images.domain.sources import (
    SourceGrant,
    is_protected,
    new_grant,
    require_readable,
)
from scp_images.imports.sources import OpenedSource, SourceResolver, parse_object_storage_url
from scp_images.services import audit
from scp_images.services.audit import AuditContext
from scp_images.services.clock import Clock, system_clock
from scp_images.store.sql import accounts as account_store
from scp_images.store.sql import grants as grant_store
from scp_images.store.sql.database import Database


class ImportSources:
    """The source resolver, with every read made on behalf of one account."""

    def __init__(self, db: Database, resolver: SourceResolver, protected_buckets: Collection[str]) -> None:
        self._db = db
        self._resolver = resolver
        self._protected = frozenset(protected_buckets)

    def check(self, url: str, account_id: str) -> None:
        """Everything decidable without contacting the source: 400 for a bad URL, then 403 for one
        the account may not read."""
        self._resolver.check(url)
        self.authorize(url, account_id)

    def authorize(self, url: str, account_id: str) -> None:
        """Raise ``ImportSourceForbidden`` unless the account may read ``url``; https needs no grant."""
        location = parse_object_storage_url(url)
        if location is None:
            return  # an allowlisted https URL: a presigned URL proves access by itself
        with self._db.read() as conn:
            grants = grant_store.grants_on(conn, account_id, location.bucket)
        require_readable(account_id, location, grants, self._protected)

    def open(self, url: str, account_id: str) -> OpenedSource:
        """Authorize again (a grant may have been revoked since the job was written), then open."""
        self.authorize(url, account_id)
        return self._resolver.open(url)


class SourceGrants:
    """Operators grant and revoke; a tenant lists its own grants."""

    def __init__(self, db: Database, protected_buckets: Collection[str], clock: Clock = system_clock) -> None:
        self._db = db
        self._protected = frozenset(protected_buckets)
        self._clock = clock

    def grant(
        self, account_id: str, bucket: str, prefix: str = "", context: AuditContext | None = None
    ) -> SourceGrant:
        """Idempotent: granting what is granted already changes nothing."""
        grant = new_grant(account_id, bucket, prefix, self._protected)
        with self._db.transaction() as conn:
            if not account_store.account_exists(conn, account_id):
                raise AccountNotFound(account_id=account_id)
            grant_store.add_grant(conn, grant, self._clock())
            where = f"s3://{grant.bucket}/{grant.prefix}"
            audit.record_change(
                conn,
                context,
                self._clock(),
                AuditAction.SOURCE_GRANT,
                account_id=grant.account_id,
                detail=where,
            )
        return grant

    def revoke(
        self, account_id: str, bucket: str, prefix: str = "", context: AuditContext | None = None
    ) -> SourceGrant:
        """Remove exactly this grant (the prefix compared in its stored form, so ``a/b/`` is ``a/b``)."""
        grant = new_grant(account_id, bucket, prefix, ())
        with self._db.transaction() as conn:
            if not grant_store.delete_grant(conn, grant):
                raise SourceGrantNotFound(account_id=account_id, bucket=bucket, prefix=grant.prefix)
            where = f"s3://{grant.bucket}/{grant.prefix}"
            audit.record_change(
                conn,
                context,
                self._clock(),
                AuditAction.SOURCE_REVOKE,
                account_id=grant.account_id,
                detail=where,
            )
        return grant

    def list_grants(self, account_id: str | None = None) -> list[SourceGrant]:
        """Every row, for the operator (a row on the blob store's bucket included, so it can be revoked)."""
        with self._db.read() as conn:
            return grant_store.list_grants(conn, account_id)

    def list_own(self, principal: Principal) -> list[SourceGrant]:
        """The caller's grants that can be used: a row on the blob store's bucket never can, and is hidden."""
        grants = self.list_grants(principal.account_id)
        return [grant for grant in grants if not is_protected(grant.bucket, self._protected)]
