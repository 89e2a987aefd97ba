"""Settings: built once (from flags and the environment) and passed down; never read at import time."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from scp_images.domain.versions import ApiVersion, VersionInfo, VersionStatus, VersionTable

GiB = 1 << 30
TiB = 1 << 40

CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCP_IMAGES_", extra="ignore")

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
    # Signatures the replay guard remembers at most; when full, new requests get 503 (see ReplayGuard).
    replay_max_signatures: int = Field(default=200_000, ge=1)
    # Fernet key(s), comma separated: the first encrypts access-key secrets at rest, all decrypt.
    secret_encryption_key: SecretStr | None = None
    rate_limit: float | None = None
    # OpenStack edge: Keystone tokens live this long (keystoneauth renews them 120 s before expiry), and
    # their MACs also mix in this secret, so only the server mints them (see services/tokens.py).
    token_ttl_seconds: int = Field(default=3600, ge=300, le=86_400)
    token_secret: SecretStr | None = None
    region: str = "kr-west1"

    s3_endpoint_url: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str | None = None

    import_allowed_hosts: CommaList = Field(default_factory=list)
    # A guard against runaway sources and uploads, not a store limit: raise it for larger images. The S3
    # blob store's parts grow from 16 MiB to 5 GiB, so it holds over 5 TiB per image (S3's own object limit;
    # 1 TiB takes about 6,000 of its 10,000 parts); the filesystem store has no ceiling of its own.
    import_max_bytes: int = 128 * GiB
    max_virtual_size: int = 64 * TiB
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
    # Uploads and downloads at once, per process; past it a transfer gets 503 with Retry-After.
    max_transfers: int = 64

    _split_public = field_validator("public_urls", "import_allowed_hosts", mode="before")(_split_commas)

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
