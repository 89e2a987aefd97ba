"""Settings: built once (from flags and the environment) and passed down; never read at import time."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from scp_images.domain.disk_formats import DiskFormat, parse_formats
from scp_images.domain.quotas import Quota
from scp_images.domain.versions import ApiVersion, VersionInfo, VersionStatus, VersionTable

GiB = 1 << 30
TiB = 1 << 40

CommaList = Annotated[list[str], NoDecode]
MAX_REDIRECT_SECONDS = 3600


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class ConfigError(ValueError):
    """Settings that make no sense together; ``serve`` and ``worker`` stop with this one line."""


class Settings(BaseSettings):
    # A variable set to the empty string (as env files and compose files write "unset") is unset.
    model_config = SettingsConfigDict(env_prefix="SCP_IMAGES_", extra="ignore", env_ignore_empty=True)

    data_dir: Path = Path("scp-images-data")
    database_url: str | None = None
    blob_url: str | None = None
    public_urls: CommaList = Field(default_factory=list)
    signature_window_seconds: int = 300
    key_cache_seconds: float = 1.0
    strict_sunset: bool = False
    api_versions: str | None = (
        None  # JSON: {"1.0": {"status": "DEPRECATED", "not_before": "2025-12-31"}, ...}
    )
    replay_protection: bool = False
    # Signatures the replay guard keeps at most (in the database, shared by every process); counted at
    # each sweep, and when full new requests get 503 until a sweep finds room (see ReplayGuard).
    replay_max_signatures: int = Field(default=200_000, ge=1)
    # How often each process deletes expired signatures (and counts the rest).
    replay_sweep_seconds: float = Field(default=10.0, ge=0)
    # Fernet key(s), comma separated: the first encrypts access-key secrets at rest, all decrypt.
    secret_encryption_key: SecretStr | None = None
    # Requests per second per access key, across every process (in the database); bursts of one second.
    rate_limit: float | None = None  # 0 or unset: no limit
    # OpenStack edge: Keystone tokens live this long (keystoneauth renews them 120 s before expiry), and
    # their MACs also mix in this secret, so only the server mints them (see services/access/tokens.py).
    # Unset (or empty): the deployment's own, generated at the first start and kept in the database.
    token_ttl_seconds: int = Field(default=3600, ge=300, le=86_400)
    token_secret: SecretStr | None = None
    region: str = "kr-west1"

    s3_endpoint_url: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str | None = None
    # The object store's address as clients reach it, when that differs from s3_endpoint_url (a
    # proxy, a public name): download redirects are presigned for it, since the host is signed.
    s3_public_endpoint_url: str | None = None
    # With the S3 blob store, GET /v2/images/{id}/file answers 307 to a presigned GET of the object
    # valid this long, so image bytes do not pass through the API. Does nothing on the filesystem store.
    download_redirect: bool = False
    download_redirect_seconds: int = 60

    import_allowed_hosts: CommaList = Field(default_factory=list)
    # A guard against runaway sources and uploads, not a store limit: raise it for larger images. The S3
    # blob store's parts grow from 16 MiB to 5 GiB, so it holds over 5 TiB per image (S3's own object limit;
    # 1 TiB takes about 6,000 of its 10,000 parts); the filesystem store has no ceiling of its own.
    import_max_bytes: int = 128 * GiB
    max_virtual_size: int = 64 * TiB
    # Disk conversion (issue 21): the input formats taken (comma separated DiskFormat names; qcow2 always),
    # conversions at once on one host (a lock in conversion_dir: every process of the host shares it), the
    # local directory they work in (also with the S3 blob store; default <data_dir>/conversions), the most
    # temporary space they may use together (an input plus its qcow2 output; checked against free space
    # before each starts), and each conversion's wall-clock and memory limits and the qemu-img it runs.
    accepted_formats: str = ",".join(f.value for f in DiskFormat)
    conversions_per_host: int = Field(default=1, ge=1, le=64)
    conversion_dir: Path | None = None
    conversion_space_bytes: int = Field(default=256 * GiB, ge=1 << 20)
    conversion_timeout_seconds: float = Field(default=3600.0, gt=0)
    conversion_memory_bytes: int = Field(default=2 * GiB, ge=64 << 20)
    qemu_img: str = "qemu-img"
    run_import_jobs: bool = True  # the embedded default runs import jobs inside the server process
    # A writer beats every 2 s; one silent for 10 s is taken over, so a dead worker's job moves on within
    # about 11 s (the stale limit plus one idle poll), with five missed beats of margin for a slow disk.
    import_heartbeat_seconds: float = 2.0
    import_stale_seconds: float = 10.0
    # An object no row owns is removed only once it is older than this (clock skew, older writers).
    orphan_grace_seconds: float = 3600.0
    max_body_bytes: int = 1 << 20
    # A client that sends nothing for this long is cut off (an upload is queued again).
    body_read_timeout_seconds: float = 60.0
    # On SIGTERM, serve stops accepting and gives in-flight requests this long to finish (then cuts them).
    shutdown_timeout_seconds: int = Field(default=30, ge=0)
    # Uploads and downloads at once, per process; past it a transfer gets 503 with Retry-After.
    max_transfers: int = 64
    # Audit records older than this many days are removed by the background sweep; 0 keeps them forever.
    audit_retention_days: float = Field(default=365.0, ge=0)
    # Records of unauthenticated calls (401s) written per second and process at most; the rest are counted.
    audit_unauthenticated_per_second: float = Field(default=20.0, gt=0)

    # Quotas per account (Glance's unified limits); None is unlimited. `scp-images admin quota set`
    # overrides them for one account.
    quota_image_count_total: int | None = Field(default=None, ge=0)
    quota_image_size_total: int | None = Field(default=None, ge=0)
    quota_image_count_uploading: int | None = Field(default=None, ge=0)
    # An import or upload reserves its account's bytes this far ahead of what it received: one database
    # write per step. A concurrent writer of the same account may be refused up to a step early.
    quota_step_bytes: int = Field(default=64 << 20, ge=1)
    # The continuous integrity scrub (in `scp-images worker`, and in the server when it runs the background
    # work): MiB/s each process reads at most; 0, the default, is off (every pass costs a full read of the
    # store, and on S3 a GET per image). A cycle checks every active image once; the next begins when all
    # are checked and the last began at least scrub_cycle_seconds ago.
    scrub_rate: float = Field(default=0.0, ge=0)
    scrub_cycle_seconds: float = Field(default=86400.0, ge=0)
    # A worker's claim on the image it reads lives this long, renewed while it reads; a dead worker's image
    # is claimed again after it. An unreadable image (store outage) is tried again after scrub_retry_seconds.
    scrub_claim_seconds: float = Field(default=60.0, gt=0)
    scrub_retry_seconds: float = Field(default=60.0, ge=0)

    _split_public = field_validator("public_urls", "import_allowed_hosts", mode="before")(_split_commas)

    def __init__(self, **values: Any) -> None:
        # Checked after pydantic's own validation, outside it: pydantic would wrap a ConfigError in a
        # ValidationError, and the CLI shows a ConfigError's message as it is (one line naming the setting).
        super().__init__(**values)
        self.check()

    def check(self) -> None:
        """Refuse, with ConfigError naming the setting, settings that cannot mean anything. Settings() runs
        it; so does build_components, for settings copied with ``model_copy(update=...)`` (no validation)."""
        public = self.s3_public_endpoint_url
        if public is not None:
            _check_endpoint(public)
            if urlsplit(self.resolved_blob_url()).scheme != "s3":
                raise ConfigError(
                    "SCP_IMAGES_S3_PUBLIC_ENDPOINT_URL is set but the blob store is not S3 "
                    f"({self.resolved_blob_url()}); it is only used to presign S3 download redirects"
                )
        try:
            parse_formats(self.accepted_formats)
        except ValueError as exc:
            raise ConfigError(f"SCP_IMAGES_ACCEPTED_FORMATS: {exc}") from None
        if not self.qemu_img.strip():
            raise ConfigError("SCP_IMAGES_QEMU_IMG is empty: name the qemu-img program (a path or a name)")
        seconds = self.download_redirect_seconds
        if not 1 <= seconds <= MAX_REDIRECT_SECONDS:
            raise ConfigError(
                f"SCP_IMAGES_DOWNLOAD_REDIRECT_SECONDS must be 1 to {MAX_REDIRECT_SECONDS}, not {seconds}"
            )

    def accepted(self) -> frozenset[DiskFormat]:
        return parse_formats(self.accepted_formats)

    def resolved_conversion_dir(self) -> Path:
        return (self.conversion_dir or self.data_dir / "conversions").resolve()

    def quota_defaults(self) -> Quota:
        return Quota(
            self.quota_image_count_total, self.quota_image_size_total, self.quota_image_count_uploading
        )

    def secret_keys(self) -> str | None:
        return self.secret_encryption_key.get_secret_value() if self.secret_encryption_key else None

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.embedded_database_path()}"

    def embedded_database_path(self) -> Path:
        """The embedded default's database: SQLite in the data dir."""
        return self.data_dir.resolve() / "scp-images.db"

    def resolved_blob_url(self) -> str:
        return self.blob_url or (self.data_dir.resolve() / "blobs").as_uri()

    def version_table(self) -> VersionTable:
        if not self.api_versions:
            return VersionTable()
        raw = json.loads(self.api_versions)
        entries = tuple(
            VersionInfo(
                ApiVersion.parse(version),
                VersionStatus(spec["status"]),
                date.fromisoformat(spec["not_before"]) if spec.get("not_before") else None,
            )
            for version, spec in raw.items()
        )
        return VersionTable(entries)


def _check_endpoint(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            f"SCP_IMAGES_S3_PUBLIC_ENDPOINT_URL must be an http(s)://host[:port] URL, not {url!r}"
        )
