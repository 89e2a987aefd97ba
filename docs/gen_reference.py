"""The reference pages generated from the code at every docs build, so they cannot drift from it.

* ``reference/settings.md``: every field of ``scp_images.config.Settings`` with its environment variable,
  its default (read from the field) and what it means (``MEANINGS`` below, else the field's description).
* ``reference/cli.md``: every ``scp-images`` command (the user commands and the operator commands the
  server extra adds) with its arguments and options, read from the Typer application.

It is a MkDocs hook (``hooks:`` in mkdocs.yml): ``on_files`` adds the two pages to the build. A setting
without a meaning is a build warning, so ``mkdocs build --strict`` fails until it is written down. Run it
as a script to print a page: ``python docs/gen_reference.py settings|cli``.
"""

from __future__ import annotations

import html
import logging
import sys
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
# The docs describe this checkout's code, whatever else is installed.
if str(REPOSITORY / "src") not in sys.path:
    sys.path.insert(0, str(REPOSITORY / "src"))

log = logging.getLogger("mkdocs.plugins.gen_reference")

SETTINGS_PAGE = "reference/settings.md"
CLI_PAGE = "reference/cli.md"
PREFIX = "SCP_IMAGES_"

# What each setting means, for an operator. The environment variable and the default come from the code.
MEANINGS: dict[str, str] = {
    "data_dir": "SQLite database and image files of the embedded default.",
    "database_url": "Metadata database: unset is SQLite in the data dir "
    "(`sqlite:///<data dir>/scp-images.db`); for PostgreSQL `postgresql+psycopg://user:password@host/db`.",
    "blob_url": "Where image bytes are stored: unset is `file://<data dir>/blobs`; or `s3://bucket/prefix` "
    "(with the `S3_*` settings).",
    "public_urls": "Comma-separated external base URLs clients sign with (the proxy's URL behind nginx).",
    "signature_window_seconds": "Accepted clock skew of `Scp-Timestamp`.",
    "key_cache_seconds": "How long a process remembers an access key, and an unknown key as unknown "
    "(0: look it up every time).",
    "strict_sunset": "`1`: a deprecated API version past its date answers 400.",
    "api_versions": 'JSON version table, e.g. `{"1.3": {"status": "CURRENT"}}`; unset: 1.0-1.2 '
    "DEPRECATED, 1.3 CURRENT.",
    "replay_protection": "`1`: a signature seen twice in the window is refused (see "
    "[Configure](../operator/configure.md#replay-protection)).",
    "replay_max_signatures": "Signatures the replay guard keeps (in the database, shared by all processes); "
    "when full, new requests get 503 with `Retry-After`.",
    "replay_sweep_seconds": "How often each process deletes expired signatures and checks the bound.",
    "secret_encryption_key": "Fernet key(s), comma-separated, the first encrypts: access-key secrets are "
    "stored encrypted (see [Upgrade](../upgrading.md#secrets-at-rest)).",
    "rate_limit": "Requests per second per access key across all processes, kept in the database (429 with "
    "`Retry-After`); unset or 0: no limit.",
    "token_ttl_seconds": "Lifetime of a Keystone token of the OpenStack edge (300-86400).",
    "token_secret": "Server secret mixed into token MACs, so a key holder cannot mint tokens offline; the "
    "same value on every process. Unset: the deployment's own, generated at the first start and kept in "
    "the database (see [Configure](../operator/configure.md#the-token-secret)).",
    "region": "Region named in the `/endpoints` catalog.",
    "s3_endpoint_url": "S3-compatible storage, for import sources and the S3 blob store.",
    "s3_access_key_id": "The service's S3 access key.",
    "s3_secret_access_key": "The service's S3 secret key.",
    "s3_region": "The S3 region to sign for.",
    "s3_public_endpoint_url": "The object store's address as clients reach it, where that differs from "
    "`SCP_IMAGES_S3_ENDPOINT_URL`; download redirects are presigned for it (S3 blob store only).",
    "download_redirect": "`1` with the S3 blob store: `GET /v2/images/{id}/file` answers 307 to a presigned "
    "URL of the object, so image bytes do not pass through the API; does nothing on the filesystem store.",
    "download_redirect_seconds": "Lifetime of those presigned URLs (1-3600).",
    "import_allowed_hosts": "Comma-separated `https` hosts imports may read from.",
    "import_max_bytes": "Largest image accepted, in bytes; raise it for larger images (the S3 blob "
    "store holds over 5 TiB per image).",
    "max_virtual_size": "Largest virtual size of a disk accepted (any format), in bytes.",
    "accepted_formats": "Input formats taken, comma-separated, of qcow2, raw, vmdk, ova, vhdx, vhd, vdi "
    "(qcow2 always); all but qcow2 (and raw on an OpenStack raw image) are converted into qcow2.",
    "conversions_per_host": "Conversions at once on one host, whatever the number of processes (a lock "
    "file per slot in the conversion directory).",
    "conversion_dir": "Local directory of the conversions' private job directories; unset: "
    "`<data dir>/conversions` (also with the S3 blob store).",
    "conversion_space_bytes": "Temporary space conversions may hold together (each: its input plus its "
    "largest qcow2 output); checked with the free space before each starts (`no_temp_space`).",
    "conversion_timeout_seconds": "Each conversion's wall-clock limit, and qemu-img's CPU seconds.",
    "conversion_memory_bytes": "qemu-img's address-space limit.",
    "qemu_img": "The qemu-img program conversions run (a path, or a name on the child's fixed PATH).",
    "run_import_jobs": "`0`: this server leaves import jobs to `scp-images worker` processes.",
    "import_heartbeat_seconds": "How often a running import or upload proves it is alive.",
    "import_stale_seconds": "An import whose heartbeat is older is taken over (an upload: this plus the body "
    "read timeout, then queued again).",
    "orphan_grace_seconds": "A stored object no row owns is removed once older than this (swept at "
    "start-up, then every grace period).",
    "max_body_bytes": "Largest JSON request body, in bytes.",
    "body_read_timeout_seconds": "A client sending nothing this long is cut off (an upload goes back to "
    "`queued`).",
    "shutdown_timeout_seconds": "On SIGTERM `serve` refuses new connections and gives requests in "
    "flight this long.",
    "max_transfers": "Uploads and downloads at once per process; beyond, 503 with `Retry-After`.",
    "audit_retention_days": "Audit records older than this are removed (at start-up, then every orphan grace "
    "period); `0` keeps them forever.",
    "audit_unauthenticated_per_second": "Records of unauthenticated calls (401) written per second and "
    "process at most; the rest are counted.",
    "quota_image_count_total": "Default quota of every account: images not deleted (unset: unlimited).",
    "quota_image_size_total": "Default quota of every account: bytes stored and in flight (unset: "
    "unlimited).",
    "quota_image_count_uploading": "Default quota of every account: imports and uploads at once (unset: "
    "unlimited).",
    "quota_step_bytes": "An import or upload reserves its account's bytes this far ahead of what it received "
    "(one database write per step).",
    "scrub_rate": "MiB/s the continuous integrity scrub reads per process; 0 is off.",
    "scrub_cycle_seconds": "A new scrub cycle begins at most this often.",
    "scrub_claim_seconds": "A worker's claim on the image it reads (renewed while reading); a dead worker's "
    "image is taken over after it.",
    "scrub_retry_seconds": "An unreadable image is tried again after this long.",
}

_UNITS = ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"))


def _cell(text: str) -> str:
    """Text fit for one cell of a markdown table."""
    return " ".join(text.split()).replace("|", "\\|")


def _default(field: Any) -> str:
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None or value == []:
        return "unset"
    if isinstance(value, bool):
        return "`1`" if value else "`0`"
    if isinstance(value, int):
        for size, unit in _UNITS:
            if value >= size and value % size == 0:
                return f"`{value}` ({value // size} {unit})"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def settings_rows() -> list[tuple[str, str, str]]:
    """(environment variable, default, meaning) of every setting, in the order of ``Settings``."""
    from scp_images.config import Settings

    rows = []
    for name, field in Settings.model_fields.items():
        meaning = MEANINGS.get(name) or field.description or ""
        if not meaning:
            log.warning("the setting %s has no meaning: add one to MEANINGS in docs/gen_reference.py", name)
        rows.append((PREFIX + name.upper(), _default(field), meaning))
    return rows


def settings_markdown() -> str:
    lines = [
        "# Settings",
        "",
        "Every setting is an environment variable; `serve`, `worker` and `admin` also take `--data-dir` and",
        "`--database-url`. Boolean settings take `1`/`0` (or `true`/`false`). This table is generated from",
        "`scp_images.config.Settings` at every docs build. How to set them on a host:",
        "[Configure](../operator/configure.md).",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{env}` | {default} | {_cell(meaning)} |" for env, default, meaning in settings_rows()]
    return "\n".join(lines) + "\n"


# --- the CLI ------------------------------------------------------------------------------------------


def cli_root() -> Any:
    """The click command of ``scp-images`` with the operator commands added, as ``main()`` builds it."""
    import typer

    from scp_images.cli import main

    registered = {group.name for group in main.app.registered_groups}
    if "admin" not in registered:
        main._add_operator_commands([])
    return typer.main.get_command(main.app)


def cli_commands() -> list[tuple[str, Any]]:
    """(``scp-images …`` path, click command) of every command and group, depth first, sorted by name."""
    found: list[tuple[str, Any]] = []

    def walk(path: str, command: Any) -> None:
        found.append((path, command))
        if hasattr(command, "commands"):  # a group (Typer ships its own click: no isinstance)
            for name in sorted(command.commands):
                walk(f"{path} {name}", command.commands[name])

    walk("scp-images", cli_root())
    return found


def _param_row(param: Any, context: Any) -> str:
    """One row: the option as ``--help`` names it, and its help (default, range, required included)."""
    record = param.get_help_record(context)
    usage, help_text = record if record else (param.name, "")
    kind = "argument" if param.param_type_name == "argument" else "option"
    help_text = help_text.replace("<", "&lt;").replace(">", "&gt;")  # text, not HTML
    # In a <code> element so that a `|` of the usage (choices) neither splits the row nor shows escaped.
    code = html.escape(" ".join(usage.split()), quote=False).replace("|", "&#124;")
    return f"| <code>{code}</code> | {kind} | {_cell(help_text)} |"


def cli_markdown() -> str:
    lines = [
        "# CLI reference",
        "",
        "Every `scp-images` command, generated from the code at every docs build (`--help` says the same).",
        "The [CLI guide](../user/cli.md) shows them at work; the operator commands are described in",
        "[Operator commands](../operator/admin.md).",
        "",
    ]
    for path, command in cli_commands():
        lines += [f"## `{path}`", ""]
        help_text = (command.help or "").strip()
        if help_text:
            first = help_text.split("\n\n")[0].replace("\n", " ")
            lines += [first.replace("<", "&lt;").replace(">", "&gt;"), ""]
        params = [p for p in command.params if p.name != "help" and not getattr(p, "hidden", False)]
        if params:
            context = command.context_class(command, info_name=path)
            lines += ["| argument or option | kind | what |", "|---|---|---|"]
            lines += [_param_row(param, context) for param in params]
            lines.append("")
    return "\n".join(lines)


# --- the MkDocs hook ----------------------------------------------------------------------------------


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for page, text in ((SETTINGS_PAGE, settings_markdown()), (CLI_PAGE, cli_markdown())):
        existing = files.get_file_from_path(page)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, page, content=text))
    return files


if __name__ == "__main__":
    pages = {"settings": settings_markdown, "cli": cli_markdown}
    if len(sys.argv) != 2 or sys.argv[1] not in pages:
        sys.exit(f"usage: python {sys.argv[0]} {'|'.join(pages)}")
    print(pages[sys.argv[1]](), end="")
