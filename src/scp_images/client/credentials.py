"""Where the SDK and CLI find credentials: explicit values, then the environment, then the files
the ``scpv2`` SDK reads (``~/.scpconf/credentials.json`` and ``~/.scpconf/config.json``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class CredentialsError(Exception):
    pass


@dataclass(frozen=True)
class Credentials:
    endpoint: str
    access_key: str
    secret_key: str
    account_id: str | None = None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _first(*values: str | None) -> str | None:
    return next((v for v in values if v), None)


def resolve_credentials(
    endpoint: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    account_id: str | None = None,
    *,
    home: Path | None = None,
) -> Credentials:
    conf_dir = (home or Path.home()) / ".scpconf"
    creds = _read_json(conf_dir / "credentials.json")
    config = _read_json(conf_dir / "config.json")
    resolved_endpoint = _first(endpoint, os.environ.get("SCP_ENDPOINT"), config.get("endpoint"))
    resolved_access = _first(
        access_key, os.environ.get("SCP_ACCESS_KEY"), creds.get("access-key"), creds.get("access_key")
    )
    resolved_secret = _first(
        secret_key, os.environ.get("SCP_SECRET_KEY"), creds.get("secret-key"), creds.get("secret_key")
    )
    missing = [
        name
        for name, value in (
            ("endpoint (--endpoint, SCP_ENDPOINT or endpoint in ~/.scpconf/config.json)", resolved_endpoint),
            ("access key (--access-key, SCP_ACCESS_KEY or ~/.scpconf/credentials.json)", resolved_access),
            ("secret key (--secret-key, SCP_SECRET_KEY or ~/.scpconf/credentials.json)", resolved_secret),
        )
        if not value
    ]
    if missing:
        raise CredentialsError("missing " + "; ".join(missing))
    return Credentials(
        resolved_endpoint,  # type: ignore[arg-type]
        resolved_access,  # type: ignore[arg-type]
        resolved_secret,  # type: ignore[arg-type]
        _first(account_id, os.environ.get("SCP_ACCOUNT_ID")),
    )
