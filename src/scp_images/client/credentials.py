"""Where the SDK and CLI find their settings: explicit values, then the environment, then the files
the ``scpv2`` SDK reads (``~/.scpconf/credentials.json`` and ``~/.scpconf/config.json``).

One function, ``resolve_config``, serves ``Client()`` and every CLI command, so the two cannot drift:

=========== ================ ======================================================================
setting     environment      file
=========== ================ ======================================================================
endpoint    SCP_ENDPOINT     ``endpoint`` in config.json
access key  SCP_ACCESS_KEY   ``access-key`` (or ``access_key``) in credentials.json
secret key  SCP_SECRET_KEY   ``secret-key`` (or ``secret_key``) in credentials.json
account id  SCP_ACCOUNT_ID   ``account-id`` (or ``account_id``) in config.json
language    SCP_LANGUAGE     ``language`` in config.json (en-US or ko-KR; default en-US)
=========== ================ ======================================================================
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class CredentialsError(Exception):
    """A setting is missing (``missing`` names them: ``endpoint``, ``access_key``, ``secret_key``) or
    a file cannot be read (``path``)."""

    def __init__(
        self, message: str, *, missing: tuple[str, ...] = (), path: Path | None = None, detail: str = ""
    ) -> None:
        super().__init__(message)
        self.missing = missing
        self.path = path
        self.detail = detail


@dataclass(frozen=True)
class Credentials:
    endpoint: str
    access_key: str
    secret_key: str
    account_id: str | None = None
    language: str = "en-US"


LANGUAGES = ("en-US", "ko-KR")
_WHERE = {
    "endpoint": "endpoint (--endpoint, SCP_ENDPOINT or endpoint in ~/.scpconf/config.json)",
    "access_key": "access key (--access-key, SCP_ACCESS_KEY or ~/.scpconf/credentials.json)",
    "secret_key": "secret key (--secret-key, SCP_SECRET_KEY or ~/.scpconf/credentials.json)",
}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"cannot read {path}: {exc}", path=path, detail=str(exc)) from exc
    return data if isinstance(data, dict) else {}


def _lenient(path: Path, unreadable: list[CredentialsError]) -> dict[str, Any]:
    """A settings file, or nothing when it cannot be read (kept in ``unreadable``): a broken file only
    matters when a required value is missing."""
    try:
        return _read_json(path)
    except CredentialsError as exc:
        unreadable.append(exc)
        return {}


def _first(*values: Any) -> str | None:
    """The first value given; an empty string means not given (as env files write it)."""
    return next((str(v) for v in values if v), None)


def normalise_language(value: str | None) -> str:
    """``ko``, ``ko_KR.UTF-8``, ``ko-KR`` are Korean; anything else is the default, en-US."""
    return "ko-KR" if value and value.strip().lower().startswith("ko") else "en-US"


def _conf_dir(home: Path | None) -> Path:
    return (home or Path.home()) / ".scpconf"


def resolve_language(language: str | None = None, *, home: Path | None = None) -> str:
    """The language alone (explicit, SCP_LANGUAGE, config.json), for messages printed before any
    request; an unreadable file is ignored here (the request's own resolution reports it)."""
    try:
        config = _read_json(_conf_dir(home) / "config.json")
    except CredentialsError:
        config = {}
    return normalise_language(_first(language, os.environ.get("SCP_LANGUAGE"), config.get("language")))


def resolve_config(
    endpoint: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    account_id: str | None = None,
    language: str | None = None,
    *,
    home: Path | None = None,
) -> Credentials:
    """Every connection setting: explicit values win over the environment, the environment over the
    files. Raises ``CredentialsError`` naming each missing one and where it may be given."""
    conf_dir = _conf_dir(home)
    unreadable: list[CredentialsError] = []
    creds = _lenient(conf_dir / "credentials.json", unreadable)
    config = _lenient(conf_dir / "config.json", unreadable)
    env = os.environ.get
    resolved_endpoint = _first(endpoint, env("SCP_ENDPOINT"), config.get("endpoint"))
    resolved_access = _first(
        access_key, env("SCP_ACCESS_KEY"), creds.get("access-key"), creds.get("access_key")
    )
    resolved_secret = _first(
        secret_key, env("SCP_SECRET_KEY"), creds.get("secret-key"), creds.get("secret_key")
    )
    given = {"endpoint": resolved_endpoint, "access_key": resolved_access, "secret_key": resolved_secret}
    missing = tuple(name for name, value in given.items() if not value)
    if missing:
        if unreadable:  # the value may be in the file that cannot be read: say so
            raise unreadable[0]
        where = "; ".join(_WHERE[name] for name in missing)
        raise CredentialsError(f"missing {where}", missing=missing)
    return Credentials(
        str(resolved_endpoint),
        str(resolved_access),
        str(resolved_secret),
        _first(account_id, env("SCP_ACCOUNT_ID"), config.get("account-id"), config.get("account_id")),
        normalise_language(_first(language, env("SCP_LANGUAGE"), config.get("language"))),
    )


def resolve_credentials(
    endpoint: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    account_id: str | None = None,
    *,
    home: Path | None = None,
) -> Credentials:
    """``resolve_config`` without the language (kept for callers of earlier versions)."""
    return resolve_config(endpoint, access_key, secret_key, account_id, home=home)
