"""Settings and components for operator commands: flags override the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scp_images.app import Components, build_components
from scp_images.cli._output import fail
from scp_images.config import ConfigError, Settings
from scp_images.services.secrets import SecretKeyError
from scp_images.store.sql.database import SchemaTooOld


def build_settings(data_dir: Path | None = None, database_url: str | None = None, **more: Any) -> Settings:
    overrides: dict[str, Any] = {k: v for k, v in more.items() if v is not None}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    return Settings(**overrides)


def open_components(settings: Settings) -> Components:
    """``build_components``; a database schema this code cannot serve on, secret encryption keys that
    do not fit the stored secrets, or settings that make no sense together, is one clear line and exit 1."""
    try:
        return build_components(settings)
    except (SchemaTooOld, SecretKeyError, ConfigError) as exc:
        fail(str(exc))
