"""``scp-images admin …``: operator commands working on the configured database and blob store
directly (like ``keystone-manage``). Only ``account create`` and ``image import`` create a missing
embedded database (and say so on stderr); every other command says there is none and where it looked.
The connection options (``--data-dir`` …) are accepted before or after the subcommand."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from scp_images.app import Components
from scp_images.cli._audit import audit_app
from scp_images.cli._groups import GlobalOptionsGroup
from scp_images.cli._output import (
    EXIT_USAGE,
    Column,
    fail,
    human_size,
    name_column,
    print_done,
    print_json,
    print_record,
    print_table,
    print_text,
)
from scp_images.cli._progress import progress_bar
from scp_images.cli._settings import (
    build_settings,
    missing_database,
    open_components,
    shown_path,
    startup_errors,
)
from scp_images.domain.errors import DomainError, InvalidSourceGrant
from scp_images.domain.image import OS_DISTROS, Visibility, parse_image_id
from scp_images.domain.principal import Role, parse_action
from scp_images.domain.quotas import KEYS, Overrides
from scp_images.domain.versions import V1_3
from scp_images.http.schemas import grant_body, image_body
from scp_images.services.data.ingest import PublishRequest
from scp_images.services.quotas import QuotaReport
from scp_images.services.upkeep.scrub import MiB, ScrubReport

app = typer.Typer(
    help=(
        "Operator commands (database and blob store accessed directly). The options below may also "
        "follow the subcommand: admin account list --data-dir DIR."
    ),
    no_args_is_help=True,
    cls=GlobalOptionsGroup,
)
account_app = typer.Typer(help="Accounts.", no_args_is_help=True)
key_app = typer.Typer(help="Access keys.", no_args_is_help=True)
image_app = typer.Typer(help="Images published by the operator.", no_args_is_help=True)
source_app = typer.Typer(
    help="Import source grants: the buckets (and key prefixes) an account may import from.",
    no_args_is_help=True,
)
app.add_typer(account_app, name="account")
app.add_typer(key_app, name="key")
app.add_typer(image_app, name="image")
quota_app = typer.Typer(
    help="Quotas per account: images, bytes and concurrent imports/uploads (defaults from the settings).",
    no_args_is_help=True,
)
app.add_typer(source_app, name="source")
app.add_typer(quota_app, name="quota")
app.add_typer(audit_app, name="audit")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object")]
LongOpt = Annotated[bool, typer.Option("--long", "-l", help="Every column, full ids and values")]
RoleOpt = Annotated[
    Role,
    typer.Option(
        help="reader: read, list, download; member: what keys do; admin: Glance's admin on /v2 "
        "(operator accounts only)"
    ),
]

# Account ids stay whole where an operator copies them from (the commands taking --account need all 32).
ACCOUNT_COLUMNS = (Column("id"), name_column(), Column("operator"))
KEY_COLUMNS = (
    Column("access_key"),
    Column("account_id", kind="id"),
    Column("user_name", cut=30),
    Column("role"),
    Column("state"),
    Column("denied_actions", cut=24, drop=1),
)
GRANT_COLUMNS = (Column("account_id"), Column("bucket", cut=20), Column("prefix", cut=20))
QUOTA_COLUMNS = (Column("quota"), Column("usage"), Column("limit"))
SCRUB_COLUMNS = (Column("finding"), Column("image_id", kind="id"), Column("detail", cut=60))


@app.callback()
def options(
    ctx: typer.Context,
    data_dir: Annotated[Path | None, typer.Option(help="Data dir (else SCP_IMAGES_DATA_DIR)")] = None,
    database_url: Annotated[str | None, typer.Option(help="Else SCP_IMAGES_DATABASE_URL")] = None,
    blob_url: Annotated[str | None, typer.Option(help="Else SCP_IMAGES_BLOB_URL")] = None,
) -> None:
    ctx.obj = build_settings(data_dir, database_url, blob_url=blob_url)


@contextmanager
def components(ctx: typer.Context, *, create: bool = False) -> Iterator[Components]:
    """The components on the configured database; only with ``create`` is a missing one made (one line
    on stderr says so), else the command stops with one line saying where it looked."""
    settings = ctx.obj
    missing = missing_database(settings) if create else None
    parts = open_components(settings, create=create)
    if missing is not None:
        typer.echo(f"created a new database in {shown_path(missing.parent)}", err=True)
    try:
        with startup_errors(settings):
            yield parts
    except DomainError as exc:
        fail(f"{exc.code}: {exc.message}")
    finally:
        parts.close()


def _show(record: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        print_json(record)
    else:
        print_record(title, record)


@account_app.command("create")
def account_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Account name")],
    id: Annotated[str | None, typer.Option("--id", help="32 hex characters; random when omitted")] = None,
    operator: Annotated[
        bool, typer.Option("--operator", help="An operator account: its keys may hold the admin role")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Create an account (and the embedded database, when there is none yet)."""
    with components(ctx, create=True) as parts:
        account = parts.accounts.create_account(name, id, operator=operator)
    _show(_account_row(account, for_people=not json), json, "Account")


def _account_row(account: Any, *, for_people: bool = False) -> dict[str, Any]:
    """An account as JSON gives it (``operator`` a boolean), or as the tables show it (yes or no)."""
    operator: bool | str = ("yes" if account.operator else "no") if for_people else account.operator
    return {"id": account.id, "name": account.name, "operator": operator}


@account_app.command("set")
def account_set(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(help="Account id")],
    operator: Annotated[
        bool,
        typer.Option(
            "--operator/--no-operator",
            help="Mark an operator account (its keys may hold the admin role), or unmark it",
        ),
    ],
    json: JsonOpt = False,
) -> None:
    """Change an account: mark or unmark it as an operator account. Unmarking is refused while one of
    its keys holds the admin role (give those keys another role first)."""
    with components(ctx) as parts:
        account = parts.accounts.set_operator(account_id, operator)
    _show(_account_row(account, for_people=not json), json, "Account")


@account_app.command("list")
def account_list(ctx: typer.Context, long: LongOpt = False, json: JsonOpt = False) -> None:
    """List accounts (a JSON object {"accounts": [...]} with --json)."""
    with components(ctx) as parts:
        accounts = parts.accounts.list_accounts()
    if json:
        print_json({"accounts": [_account_row(a) for a in accounts]})
    else:
        print_table(ACCOUNT_COLUMNS, [_account_row(a, for_people=True) for a in accounts], long)


@key_app.command("create")
def key_create(
    ctx: typer.Context,
    account: Annotated[str, typer.Option(help="Account id")],
    user: Annotated[str, typer.Option(help="User name (e-mail)")],
    deny: Annotated[
        list[str] | None, typer.Option(help="Action to deny, e.g. virtualserver:ShowImage")
    ] = None,
    role: RoleOpt = Role.MEMBER,
    json: JsonOpt = False,
) -> None:
    """Create an access key; the secret is shown only now."""
    try:
        denied = [parse_action(a) for a in deny or []]
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    with components(ctx) as parts:
        key = parts.accounts.create_key(account, user, denied, role=role)
    record = {
        "access_key": key.access_key,
        "secret_key": key.secret_key,
        "account_id": key.account_id,
        "user_name": key.user_name,
        "role": key.role.value,
    }
    _show(record, json, "Access key")


@key_app.command("set")
def key_set(ctx: typer.Context, access_key: str, role: RoleOpt, json: JsonOpt = False) -> None:
    """Change a key's role; its next request, and the next use of a token issued for it, act with it."""
    with components(ctx) as parts:
        key = parts.accounts.set_key_role(access_key, role)
    result = {"access_key": key.access_key, "role": key.role.value}
    print_done(f"{access_key} role {key.role.value}", json, result)


@key_app.command("list")
def key_list(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account's keys")] = None,
    long: LongOpt = False,
    json: JsonOpt = False,
) -> None:
    """List access keys, never their secrets (a JSON object {"keys": [...]} with --json)."""
    with components(ctx) as parts:
        keys = parts.accounts.list_keys(account)
    rows = [
        {
            "access_key": k.access_key,
            "account_id": k.account_id,
            "user_name": k.user_name,
            "role": k.role.value,
            "enabled": k.enabled,
            "denied_actions": sorted(a.value for a in k.denied_actions),
        }
        for k in keys
    ]
    if json:
        print_json({"keys": rows})
    else:
        shown = [{**r, "state": "enabled" if r["enabled"] else "disabled"} for r in rows]
        print_table(KEY_COLUMNS, shown, long)


def _key_state(ctx: typer.Context, access_key: str, enabled: bool, as_json: bool) -> None:
    with components(ctx) as parts:
        parts.accounts.set_key_enabled(access_key, enabled)
    state = "enabled" if enabled else "disabled"
    print_done(f"{access_key} {state}", as_json, {"access_key": access_key, "enabled": enabled})


@key_app.command("disable")
def key_disable(ctx: typer.Context, access_key: str, json: JsonOpt = False) -> None:
    """Disable an access key: its requests get 401 until enabled again."""
    _key_state(ctx, access_key, False, json)


@key_app.command("enable")
def key_enable(ctx: typer.Context, access_key: str, json: JsonOpt = False) -> None:
    """Enable a disabled access key."""
    _key_state(ctx, access_key, True, json)


@key_app.command("delete")
def key_delete(ctx: typer.Context, access_key: str, json: JsonOpt = False) -> None:
    """Delete an access key."""
    with components(ctx) as parts:
        parts.accounts.delete_key(access_key)
    print_done(f"{access_key} deleted", json, {"access_key": access_key, "deleted": True})


@key_app.command("reencrypt")
def key_reencrypt(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Encrypt every stored secret with the first key of SCP_IMAGES_SECRET_ENCRYPTION_KEY.

    Turns plain secrets into encrypted ones and moves secrets under an older key to the first one.
    Rotation: set "NEW,OLD", restart, run this, then set "NEW" alone and restart."""
    with components(ctx) as parts:
        result = parts.accounts.reencrypt_secrets()
    _show({"reencrypted": result.changed, "unchanged": result.unchanged}, json, "Secrets")


@image_app.command("import")
def image_import(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, readable=True, help="A local qcow2 file")
    ],
    name: Annotated[str, typer.Option(help="Image name")],
    os_distro: Annotated[str, typer.Option(help=f"One of {', '.join(OS_DISTROS)} (or another distro name)")],
    owner: Annotated[str, typer.Option(help="Owner account id")],
    visibility: Annotated[Visibility, typer.Option(help="Who may see it")] = Visibility.PUBLIC,
    image_type: Annotated[str, typer.Option(help="scp_image_type, e.g. standard or custom")] = "standard",
    os_version: Annotated[str | None, typer.Option(help="scp_os_version, e.g. 22.04")] = None,
    protected: Annotated[bool, typer.Option("--protected", help="Refuse deletion")] = False,
    hidden: Annotated[bool, typer.Option("--hidden", help="Leave it out of lists (os_hidden)")] = False,
    json: JsonOpt = False,
) -> None:
    """Publish a local qcow2 as an active image: hashed, inspected and stored in one streaming pass."""
    request = PublishRequest(
        path=str(file),
        name=name,
        os_distro=os_distro,
        owner=owner,
        visibility=visibility,
        image_type=image_type,
        os_version=os_version,
        protected=protected,
        hidden=hidden,
    )
    with components(ctx, create=True) as parts, progress_bar(f"importing {file.name}", json) as bar:
        total = file.stat().st_size
        image = parts.ingest.publish_file(request, progress=lambda done: bar.bytes(done, total))
    _show(image_body(image, V1_3), json, f"Image {image.id}")


@image_app.command("restore")
def image_restore(
    ctx: typer.Context,
    image_id: Annotated[str, typer.Argument(help="Image id")],
    file: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, readable=True, help="The image's original bytes")
    ],
    json: JsonOpt = False,
) -> None:
    """Put an image's bytes back from a file whose size, md5 and sha512 match the image (else nothing is
    written, exit 1). A data flag stays until `admin scrub --image ID` checks the restored bytes clean."""
    with components(ctx) as parts:
        image = parts.restore.restore(image_id, str(file))
    record = {
        "id": image.id,
        "restored": True,
        "data_flag": image.data_flag.value if image.data_flag else None,
    }
    if json:
        print_json(record)
    else:
        print_text(f"image {image.id} restored from {file}")
        if image.data_flag is not None:
            print_text(
                f"its {image.data_flag.value} flag stays until: scp-images admin scrub --image {image.id}"
            )


def _print_scrub(report: ScrubReport, long: bool) -> None:
    print_text(f"checked {report.checked} images: {report.fine} fine")
    rows = [
        {"finding": name, "image_id": finding.image_id, "detail": finding.detail}
        for name in ("corrupt", "missing", "unreadable")
        for finding in getattr(report, name)
    ]
    for orphan in report.orphans or []:
        kind = "staged upload" if orphan.staged else "blob"
        rows.append({"finding": "orphan", "detail": f"{kind} {orphan.key or '(unnamed)'}: no row owns it"})
    if rows:
        print_table(SCRUB_COLUMNS, rows, long)
    if report.orphans is None:
        print_text(
            "orphans: not looked for" if report.checked <= 1 else "orphans: the store could not be listed"
        )
    print_text("all fine" if report.ok else "problems found")


@app.command("scrub")
def scrub(
    ctx: typer.Context,
    image: Annotated[str | None, typer.Option("--image", help="Check only this image")] = None,
    rate: Annotated[
        float | None,
        typer.Option("--rate", min=0.01, help="Read at most this many MiB/s (default unbounded)"),
    ] = None,
    retries: Annotated[
        int, typer.Option(min=0, help="Read unreadable images again this many times, waiting 2 s, 4 s, …")
    ] = 2,
    long: LongOpt = False,
    json: JsonOpt = False,
) -> None:
    """Re-read stored image data and check size, md5 and sha512 against each image; report corrupt and
    missing images and orphans (bytes no row owns). Exit 1 when anything is wrong, 0 when all is fine.

    Corrupt or missing images get a data flag: their downloads answer 409 until restored and checked clean.
    An image the store cannot be read for (an outage) is `unreadable`, tried again, and never flagged."""
    with components(ctx) as parts:
        image_id = parse_image_id(image) if image is not None else None
        report = parts.scrubber.run(image_id=image_id, rate=rate * MiB if rate else None, retries=retries)
    if json:
        print_json(report.as_dict())
    else:
        _print_scrub(report, long)
    if not report.ok:
        raise typer.Exit(1)


AccountOpt = Annotated[str, typer.Option(help="Account id")]
BucketOpt = Annotated[str, typer.Option(help="Bucket name")]
PrefixOpt = Annotated[
    str,
    typer.Option(help="Key prefix, whole '/'-separated segments ('a/b' covers a/b/x, not a/bc/x); '' = all"),
]


@contextmanager
def _grant_errors() -> Iterator[None]:
    """A grant that can never be valid (malformed, or the blob store's own bucket) is a usage error."""
    try:
        yield
    except InvalidSourceGrant as exc:
        fail(f"{exc.code}: {exc.message}", EXIT_USAGE)


def _grant_line(grant: Any) -> str:
    where = f"s3://{grant.bucket}/{grant.prefix + '/' if grant.prefix else ''}"
    return f"{where}  account {grant.account_id}"


@source_app.command("grant")
def source_grant(
    ctx: typer.Context, account: AccountOpt, bucket: BucketOpt, prefix: PrefixOpt = "", json: JsonOpt = False
) -> None:
    """Let an account import objects of a bucket (under a prefix); granting twice changes nothing."""
    with components(ctx) as parts, _grant_errors():
        grant = parts.source_grants.grant(account, bucket, prefix)
    if json:
        print_json(grant_body(grant))
    else:
        print_text(f"granted {_grant_line(grant)}")


@source_app.command("revoke")
def source_revoke(
    ctx: typer.Context, account: AccountOpt, bucket: BucketOpt, prefix: PrefixOpt = "", json: JsonOpt = False
) -> None:
    """Remove exactly this grant (imports not yet started from it are then refused)."""
    with components(ctx) as parts, _grant_errors():
        grant = parts.source_grants.revoke(account, bucket, prefix)
    if json:
        print_json(grant_body(grant))
    else:
        print_text(f"revoked {_grant_line(grant)}")


@source_app.command("list")
def source_list(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account's grants")] = None,
    long: LongOpt = False,
    json: JsonOpt = False,
) -> None:
    """List grants (a JSON object {"grants": [{"account_id", "bucket", "prefix"}, ...]} with --json)."""
    with components(ctx) as parts:
        grants = parts.source_grants.list_grants(account)
    if json:
        print_json({"grants": [grant_body(grant) for grant in grants]})
    else:
        print_table(GRANT_COLUMNS, [grant_body(grant) for grant in grants], long)


def _quota_report(report: QuotaReport, as_json: bool) -> None:
    """``{"account_id", "limits": {...}, "usage": {...}}``; an unlimited limit is null."""
    limits = {key: getattr(report.limits, key) for key in KEYS}
    usage = {key: getattr(report.usage, key) for key in KEYS}
    if as_json:
        print_json({"account_id": report.account_id, "limits": limits, "usage": usage})
        return
    print_text(f"account {report.account_id}")

    def amount(key: str, value: int | None) -> str:
        if value is None:
            return "unlimited"
        return human_size(value) if key == "bytes" else str(value)

    rows = [
        {"quota": key, "usage": amount(key, usage[key]), "limit": amount(key, limits[key])} for key in KEYS
    ]
    print_table(QUOTA_COLUMNS, rows)


@quota_app.command("set")
def quota_set(
    ctx: typer.Context,
    account: AccountOpt,
    images: Annotated[int | None, typer.Option(min=-1, help="image_count_total; -1 is unlimited")] = None,
    bytes_: Annotated[
        int | None, typer.Option("--bytes", min=-1, help="image_size_total in bytes; -1 is unlimited")
    ] = None,
    uploading: Annotated[
        int | None, typer.Option(min=-1, help="image_count_uploading; -1 is unlimited")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Override the named limits of one account; limits not named keep their values."""
    if images is None and bytes_ is None and uploading is None:
        fail("name at least one of --images, --bytes, --uploading", EXIT_USAGE)
    with components(ctx) as parts:
        report = parts.quotas.set(account, Overrides(images, bytes_, uploading))
    _quota_report(report, json)


@quota_app.command("reset")
def quota_reset(ctx: typer.Context, account: AccountOpt, json: JsonOpt = False) -> None:
    """Remove the account's overrides: the defaults of the settings apply again."""
    with components(ctx) as parts:
        report = parts.quotas.reset(account)
    _quota_report(report, json)


@quota_app.command("show")
def quota_show(ctx: typer.Context, account: AccountOpt, json: JsonOpt = False) -> None:
    """The account's effective limits and what counts against them now."""
    with components(ctx) as parts:
        report = parts.quotas.show(account)
    _quota_report(report, json)
