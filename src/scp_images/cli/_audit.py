"""``scp-images admin audit …``: read the audit trail (newest first) and export it for a SIEM."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from scp_images.cli._output import EXIT_USAGE, Column, fail, print_json, print_table
from scp_images.cli._settings import open_components
from scp_images.domain.audit import AuditRecord
from scp_images.services.audit import AuditQuery

audit_app = typer.Typer(
    help="The audit trail: who changed what, when, and how it ended.", no_args_is_help=True
)

MAX_LIST = 10_000
_FIELDS = (
    "id",
    "at",
    "actor_kind",
    "actor",
    "account_id",
    "access_key",
    "role",
    "request_id",
    "action",
    "image_id",
    "member_id",
    "status",
    "error_code",
    "detail",
)

# Every value a caller could have chosen (a presented access key, an actor, a path's ids, a detail) is
# "quoted" unless it is one plain word, and the outcome comes before them: a refused call cannot be made
# to read like a successful one. A terminal too narrow for them all loses the detail, the member, the
# actor's kind, then who (80 columns keep when, what, the outcome and the image).
AUDIT_COLUMNS = (
    Column("at", kind="time"),
    Column("action"),
    Column("status"),
    Column("error", cut=24),
    Column("actor_kind", header="kind", drop=3),
    Column("who", kind="quoted", cut=24, drop=1),
    Column("image_id", kind="id"),
    Column("member_id", kind="id", drop=2),
    Column("detail", kind="quoted", cut=40, drop=5),
    Column("account_id", kind="id", long=True),
    Column("access_key", kind="quoted", long=True),
    Column("role", long=True),
    Column("request_id", kind="quoted", long=True),
    Column("id", long=True),
)
CODE_PREFIX = "virtualserver."


def _error(code: str | None) -> str:
    """The table shows a code without its common ``virtualserver.`` (``--json`` keeps it whole)."""
    return "ok" if code is None else code.removeprefix(CODE_PREFIX)


SinceOpt = Annotated[
    str | None, typer.Option(help="Only records at or after this ISO-8601 time (UTC unless it says)")
]


def parse_since(value: str | None) -> datetime | None:
    """ISO-8601 (a date, or a date and time, with or without an offset) as naive UTC, as stored."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since {value[:64]!r} is not an ISO-8601 date or time", EXIT_USAGE)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def record_body(record: AuditRecord) -> dict[str, Any]:
    body = {name: getattr(record, name) for name in _FIELDS}
    body["at"] = record.at.isoformat(timespec="microseconds") + "Z"
    body["actor_kind"] = record.actor_kind.value
    return body


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only records of this account")] = None,
    image: Annotated[str | None, typer.Option(help="Only records of this image")] = None,
    since: SinceOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIST, help="At most this many records")] = 100,
    long: Annotated[bool, typer.Option("--long", "-l", help="Every column, full values")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """The newest records first (a JSON object {"records": [...]} with --json)."""
    query = AuditQuery(account_id=account, image_id=image, since=parse_since(since), limit=limit)
    parts = open_components(ctx.obj)
    try:
        records = [record_body(r) for r in parts.audit.list(query)]
    finally:
        parts.close()
    if json_out:
        print_json({"records": records})
        return
    rows = [{**r, "who": r["actor"] or r["access_key"], "error": _error(r["error_code"])} for r in records]
    print_table(AUDIT_COLUMNS, rows, long)


@audit_app.command("export")
def audit_export(
    ctx: typer.Context,
    since: Annotated[str, typer.Option(help="Records at or after this ISO-8601 time (UTC unless it says)")],
) -> None:
    """Write the records since a time as JSON lines (oldest first) to stdout, for a SIEM."""
    start = parse_since(since)
    assert start is not None
    parts = open_components(ctx.obj)
    try:
        for record in parts.audit.export(start):
            sys.stdout.write(json.dumps(record_body(record), sort_keys=True) + "\n")
    finally:
        parts.close()
