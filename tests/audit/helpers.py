"""Helpers for audit tests: the trail read through the operator CLI, and a database that refuses records."""

from __future__ import annotations

import json
from typing import Any

import httpx
from click.testing import Result
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from scp_images.cli.admin import app as admin_app
from scp_images.config import Settings
from tests.api.helpers import admin, cli_env

RID = "X-Request-Id"


def audit_list(settings: Settings, *args: str) -> list[dict[str, Any]]:
    """``scp-images admin audit list … --json`` in a real subprocess."""
    return json.loads(admin(settings, "audit", "list", *args, "--json").stdout)["records"]  # type: ignore[no-any-return]


def run_admin(settings: Settings, *args: str, code: int = 0) -> Result:
    """``scp-images admin …`` in-process (a subprocess costs seconds on a loaded machine): the same Typer
    app, options and environment."""
    result = CliRunner().invoke(admin_app, list(args), env=cli_env(settings), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def listed(settings: Settings, *args: str) -> list[dict[str, Any]]:
    """``admin audit list … --json``, in-process."""
    return json.loads(run_admin(settings, "audit", "list", *args, "--json").stdout)["records"]  # type: ignore[no-any-return]


def by_request(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["request_id"]: r for r in records if r["request_id"]}


def rid(response: httpx.Response) -> str:
    return response.headers[RID]


_PG_FUNCTION = """
CREATE FUNCTION test_audit_down() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit store is down (test)'; END $$
"""


class AuditOutage:
    """A trigger that makes every INSERT into the audit table fail, as a broken audit store would."""

    def __init__(self, database_url: str) -> None:
        self._engine = create_engine(database_url)
        self._postgres = self._engine.dialect.name == "postgresql"

    def __enter__(self) -> AuditOutage:
        with self._engine.begin() as conn:
            if self._postgres:
                conn.execute(text(_PG_FUNCTION))
                conn.execute(
                    text(
                        "CREATE TRIGGER test_audit_down BEFORE INSERT ON audit_records "
                        "FOR EACH ROW EXECUTE FUNCTION test_audit_down()"
                    )
                )
            else:
                conn.execute(
                    text(
                        "CREATE TRIGGER test_audit_down BEFORE INSERT ON audit_records "
                        "BEGIN SELECT RAISE(ABORT, 'the audit store is down (test)'); END"
                    )
                )
        return self

    def __exit__(self, *exc: object) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                text("DROP TRIGGER test_audit_down" + (" ON audit_records" if self._postgres else ""))
            )
            if self._postgres:
                conn.execute(text("DROP FUNCTION test_audit_down()"))
        self._engine.dispose()
