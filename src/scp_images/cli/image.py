"""``scp-images image …``: the user's commands, built on the SDK.

Exit codes: 0 success, 1 the API (or a transfer, a wait) failed, 2 usage error.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from scp_images.cli._errors import explain
from scp_images.cli._groups import GlobalOptionsGroup
from scp_images.cli._messages import t, use_language
from scp_images.cli._output import (
    EXIT_USAGE,
    Column,
    api_errors,
    fail,
    name_column,
    print_done,
    print_json,
    print_record,
    print_table,
    print_text,
)
from scp_images.cli._progress import import_bar, phase_bar, progress_bar
from scp_images.cli._resolve import resolve
from scp_images.client import (
    DEFAULT_API_VERSION,
    Client,
    Credentials,
    Image,
    ImageKilled,
    ImportStatus,
    Member,
    ScpImagesError,
    resolve_config,
    resolve_language,
)

app = typer.Typer(
    help="Work with images through the SCP image API.", no_args_is_help=True, cls=GlobalOptionsGroup
)
member_app = typer.Typer(help="Share an image with other accounts, and answer shares.", no_args_is_help=True)
app.add_typer(member_app, name="member")


class Connection:
    """Connection options shared by every image command."""

    def __init__(
        self,
        endpoint: str | None,
        access_key: str | None,
        secret_key: str | None,
        account_id: str | None,
        language: str | None,
    ) -> None:
        self.endpoint, self.access_key, self.secret_key = endpoint, access_key, secret_key
        self.account_id, self.language = account_id, language
        self.credentials: Credentials | None = None

    def client(self, api_version: str = DEFAULT_API_VERSION) -> Client:
        # The same resolution as the SDK's Client() (client/credentials.py), so the two cannot drift.
        creds = resolve_config(
            self.endpoint, self.access_key, self.secret_key, self.account_id, self.language
        )
        self.credentials = creds
        return Client(
            creds.endpoint,
            creds.access_key,
            creds.secret_key,
            account_id=creds.account_id,
            language=creds.language,
            api_version=api_version,
        )


@app.callback()
def connection(
    ctx: typer.Context,
    endpoint: Annotated[
        str | None, typer.Option(help="Base URL; else SCP_ENDPOINT or ~/.scpconf/config.json")
    ] = None,
    access_key: Annotated[
        str | None, typer.Option(help="Else SCP_ACCESS_KEY or ~/.scpconf/credentials.json")
    ] = None,
    secret_key: Annotated[
        str | None, typer.Option(help="Else SCP_SECRET_KEY or ~/.scpconf/credentials.json")
    ] = None,
    account_id: Annotated[str | None, typer.Option(help="Sent as Scp-AccountId when given")] = None,
    language: Annotated[
        str | None, typer.Option(help="en-US or ko-KR; else SCP_LANGUAGE or ~/.scpconf/config.json")
    ] = None,
) -> None:
    ctx.obj = Connection(endpoint, access_key, secret_key, account_id, language)
    use_language(resolve_language(language))  # before anything is printed


class SettableVisibility(StrEnum):
    private = "private"
    shared = "shared"


class InputFormat(StrEnum):
    """What ``--input-format`` may declare; only raw needs it (the server detects the others)."""

    raw = "raw"
    qcow2 = "qcow2"
    vmdk = "vmdk"
    ova = "ova"
    vhdx = "vhdx"
    vhd = "vhd"
    vdi = "vdi"


class ListVisibility(StrEnum):
    public = "public"
    community = "community"
    shared = "shared"
    private = "private"


ApiVersionOpt = Annotated[str, typer.Option("--api-version", help="virtualserver API version: 1.0 to 1.3")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON")]
ImageId = Annotated[str, typer.Argument(help="Image id, exact name, or unique id prefix (8+ characters)")]
LongOpt = Annotated[bool, typer.Option("--long", "-l", help="Every column, full ids and values")]
MemberId = Annotated[str, typer.Argument(help="Member account id")]
ImageTypeOpt = Annotated[str | None, typer.Option(help="scp_image_type, e.g. custom or standard")]
OriginalTypeOpt = Annotated[str | None, typer.Option(help="scp_original_image_type")]
MinDiskOpt = Annotated[int | None, typer.Option(min=0, help="Minimum disk (GB)")]
MinRamOpt = Annotated[int | None, typer.Option(min=0, help="Minimum RAM")]
TimeoutOpt = Annotated[float, typer.Option(min=0, help="Seconds to wait before giving up")]
InputFormatOpt = Annotated[
    InputFormat | None,
    typer.Option(help="The disk's format: needed for raw only; the others are detected from its bytes"),
]
# A conversion may run for the server's time limit (an hour by default): `create --file` follows it so long.
CONVERSION_TIMEOUT = 3900.0

# On a terminal too narrow for all of them, os_distro goes first, then visibility, then created_at.
IMAGE_COLUMNS = (
    Column("id", kind="id"),
    name_column(),
    Column("status"),
    Column("visibility", drop=2),
    Column("os_distro", drop=3),
    Column("size", kind="size"),
    Column("created_at", kind="time", drop=1),
    Column("owner", kind="id", long=True),
    Column("virtual_size", kind="size", long=True),
    Column("min_disk", long=True),
    Column("min_ram", long=True),
    Column("protected", long=True),
    Column("updated_at", kind="time", long=True),
)
MEMBER_COLUMNS = (
    Column("member_id"),  # whole: `member remove IMAGE MEMBER_ID` takes all of it
    Column("status"),
    Column("created_at", kind="time"),
    Column("updated_at", kind="time", drop=1),
)
SOURCE_COLUMNS = (Column("bucket", cut=30), Column("prefix", cut=30), Column("account_id", kind="id"))
DEFAULT_PAGE = 20  # the server's default limit


# --- output ------------------------------------------------------------------------------------


def _print_images(images: list[Image], as_json: bool, long: bool) -> None:
    if as_json:
        print_json({"images": [image.raw for image in images]})
    else:
        print_table(IMAGE_COLUMNS, [image.raw for image in images], long)


def _print_image(image: Image, as_json: bool) -> None:
    if as_json:
        print_json(image.raw)
    else:
        print_record(f"Image {image.id}", image.raw)


def _print_member(member: Member, as_json: bool) -> None:
    if as_json:
        print_json(member.raw)
    else:
        print_record(f"Member {member.member_id} of image {member.image_id}", member.raw)


def _print_import(status: ImportStatus, as_json: bool) -> None:
    if as_json:
        print_json(status.raw)
        return
    record = {key: value for key, value in status.raw.items() if key != "original"}
    if status.phase == "converting" and status.percent is not None:
        record["phase"] = f"converting {status.percent}%"
    record.pop("percent", None)
    if status.original is not None:  # one line a figure, as the image's own size and checksums
        record["original_disk_format"] = status.original.disk_format
        record["original_size"] = status.original.size
        record["original_sha512"] = status.original.sha512
    print_record(f"Import of image {status.image_id}", record)


# --- images ------------------------------------------------------------------------------------


@app.command()
def show(
    ctx: typer.Context,
    image_id: ImageId,
    api_version: ApiVersionOpt = DEFAULT_API_VERSION,
    json: JsonOpt = False,
) -> None:
    """Show one image."""
    with api_errors(), ctx.obj.client(api_version) as client:
        image = client.images.show(resolve(client, image_id))
    _print_image(image, json)


@app.command("list")
def list_images(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Exact name")] = None,
    os_distro: Annotated[str | None, typer.Option(help="e.g. ubuntu")] = None,
    status: Annotated[str | None, typer.Option(help="e.g. active, queued, importing, killed")] = None,
    visibility: Annotated[ListVisibility | None, typer.Option(help="Only this visibility")] = None,
    image_type: ImageTypeOpt = None,
    original_image_type: OriginalTypeOpt = None,
    hidden: Annotated[bool, typer.Option("--hidden", help="List the os_hidden images instead")] = False,
    limit: Annotated[int | None, typer.Option(min=1, max=1000, help="Page size (server default 20)")] = None,
    marker: Annotated[str | None, typer.Option(help="Start after this image id")] = None,
    sort: Annotated[str | None, typer.Option(help="key[:asc|desc],… (default created_at:desc)")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Follow the marker through every page")] = False,
    long: LongOpt = False,
    json: JsonOpt = False,
) -> None:
    """List images, one page at a time (or every page with --all)."""
    filters: dict[str, Any] = {
        "sort": sort, "name": name, "os_distro": os_distro, "status": status,
        "visibility": visibility.value if visibility else None, "image_type": image_type,
        "original_image_type": original_image_type, "hidden": True if hidden else None,
    }  # fmt: skip
    with api_errors(), ctx.obj.client() as client:
        if all_pages:
            images = list(client.images.iter(page_size=limit or 100, marker=marker, **filters))
        else:
            images = client.images.list(limit=limit, marker=marker, **filters)
    _print_images(images, json, long)
    if not all_pages and images and len(images) == (limit or DEFAULT_PAGE):
        print_text(t("more_may_follow", marker=images[-1].id), stderr=True)


def _wait_with_bar(
    client: Client, image_id: str, status: str, timeout: float, interval: float, quiet: bool
) -> Image:
    with import_bar(t("waiting_for", status=status), quiet) as bar:
        return client.images.wait(
            image_id, status, timeout=timeout, interval=interval, on_progress=bar.import_status
        )


def _create_from_url(
    client: Client, url: str, name: str, os_distro: str, input_format: str | None, **options: Any
) -> Image:
    if input_format is None:
        return client.images.create(name, os_distro, url, **options)
    # The SCP create body has no input format: the extension's import call carries it.
    image = client.images.create(name, os_distro, **options)
    client.images.import_(image.id, url, input_format=input_format)
    return client.images.show(image.id)


def _create(
    client: Client,
    url: str | None,
    file: Path | None,
    name: str,
    os_distro: str,
    quiet: bool,
    input_format: str | None,
    timeout: float,
    **options: Any,
) -> Image:
    if file is None:
        assert url is not None
        return _create_from_url(client, url, name, os_distro, input_format, **options)
    try:
        with progress_bar(t("uploading", name=file.name), quiet) as bar:
            image = client.images.create_from_file(
                file, name, os_distro, progress=bar.bytes, input_format=input_format, **options
            )
        if image.status == "importing":  # received and staged: the server converts it now
            image = _follow_conversion(client, image, file.name, timeout, quiet, options["keep_failed"])
    except ScpImagesError as exc:
        if exc.created_image_id is None:
            raise
        # Why it failed, then what became of the image the upload was for.
        message, code = explain(exc, client.endpoint)
        fail(f"{message}\n{_left_behind(exc, exc.created_image_id)}", code)
    return image


def _follow_conversion(
    client: Client, image: Image, file_name: str, timeout: float, quiet: bool, keep_failed: bool
) -> Image:
    """Show the phases until the image is active; a refused conversion's image is removed as a refused
    upload's is (unless ``keep_failed``), the reason shown by the caller."""
    with phase_bar(quiet) as bar:
        try:
            image = client.images.wait(
                image.id, "active", timeout=timeout, interval=1.0, on_progress=bar.import_status
            )
        except ImageKilled as exc:
            exc.created_image_id = image.id
            if not keep_failed:
                _remove_killed(client, image, exc)
            raise
    status = client.images.import_status(image.id)
    if status.original is not None and not quiet:
        print_text(t("converted", name=file_name, original=status.original.disk_format), stderr=True)
    return image


def _remove_killed(client: Client, image: Image, failure: ImageKilled) -> None:
    try:
        if image.protected:
            client.images.update(image.id, protected=False)
        client.images.delete(image.id)
    except ScpImagesError as exc:
        failure.cleanup_error = exc
    else:
        failure.created_image_removed = True


def _left_behind(exc: ScpImagesError, image_id: str) -> str:
    if exc.created_image_removed and isinstance(exc, ImageKilled):
        return t("conversion_refused_removed", image_id=image_id)
    if exc.created_image_removed:
        return t("upload_refused_removed", image_id=image_id)
    if exc.cleanup_error is not None:
        detail = explain(exc.cleanup_error, None)[0]
        return t("upload_cleanup_failed", image_id=image_id, detail=detail)
    return t("upload_refused_kept", image_id=image_id)


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Letters, digits, '-', '_' and spaces")],
    os_distro: Annotated[
        str, typer.Option(help="alma, centos, rhel, rocky, ubuntu, windows, oracle or sles")
    ],
    url: Annotated[
        str | None, typer.Option(help="Import from this URL (a disk image; in the background)")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="Upload this local disk (qcow2, VMDK, OVA, VHDX, VHD, VDI; raw with --input-format raw); "
            "a converted disk is followed until active",
        ),
    ] = None,
    input_format: InputFormatOpt = None,
    min_disk: MinDiskOpt = None,
    min_ram: MinRamOpt = None,
    protected: Annotated[bool, typer.Option("--protected", help="Refuse deletion")] = False,
    visibility: Annotated[SettableVisibility | None, typer.Option(help="Default private")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the image is active")] = False,
    timeout: Annotated[
        float | None,
        typer.Option(min=0, help="Seconds to wait before giving up (600; 3900 for a conversion)"),
    ] = None,
    keep_failed: Annotated[
        bool, typer.Option("--keep-failed", help="Keep the image when its --file upload is refused")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Create an image from a URL (--url) or a local file (--file); a refused file's image is removed.

    A disk in another format than qcow2 is converted by the server after its upload.

    --file follows the conversion until the image is active (Ctrl-C stops following, not the conversion)."""
    if (url is None) == (file is None):
        fail(t("url_or_file"), EXIT_USAGE)
    options: dict[str, Any] = {
        "min_disk": min_disk, "min_ram": min_ram, "protected": True if protected else None,
        "visibility": visibility.value if visibility else None,
    }  # fmt: skip
    if file is not None:
        options["keep_failed"] = keep_failed
    declared = input_format.value if input_format else None
    with api_errors(), ctx.obj.client() as client:
        follow = CONVERSION_TIMEOUT if timeout is None else timeout
        image = _create(client, url, file, name, os_distro, json, declared, follow, **options)
        if wait and image.status != "active":
            image = _wait_with_bar(client, image.id, "active", 600 if timeout is None else timeout, 1.0, json)
    _print_image(image, json)


@app.command()
def update(
    ctx: typer.Context,
    image_id: ImageId,
    min_disk: MinDiskOpt = None,
    min_ram: MinRamOpt = None,
    protected: Annotated[
        bool | None, typer.Option("--protected/--no-protected", help="Deletion protection")
    ] = None,
    visibility: Annotated[SettableVisibility | None, typer.Option(help="private or shared")] = None,
    json: JsonOpt = False,
) -> None:
    """Change an image's min_disk, min_ram, protection or visibility."""
    wanted = {"min_disk": min_disk, "min_ram": min_ram, "protected": protected, "visibility": visibility}
    changes = {key: (value.value if isinstance(value, StrEnum) else value) for key, value in wanted.items()}
    changes = {key: value for key, value in changes.items() if value is not None}
    if not changes:
        fail(t("nothing_to_change"), EXIT_USAGE)
    with api_errors(), ctx.obj.client() as client:
        image = client.images.update(resolve(client, image_id), **changes)
    _print_image(image, json)


@app.command()
def delete(ctx: typer.Context, image_id: ImageId, json: JsonOpt = False) -> None:
    """Delete an image (refused while it is protected)."""
    with api_errors(), ctx.obj.client() as client:
        image_id = resolve(client, image_id)
        client.images.delete(image_id)
    print_done(t("deleted", image_id=image_id), json, {"id": image_id, "deleted": True})


@app.command("import")
def import_image(
    ctx: typer.Context,
    image_id: ImageId,
    url: Annotated[str, typer.Option(help="A disk image URL the server may fetch")],
    input_format: InputFormatOpt = None,
    json: JsonOpt = False,
) -> None:
    """Import a URL into a queued (or killed) image; follow it with `image wait`."""
    with api_errors(), ctx.obj.client() as client:
        image_id = resolve(client, image_id)
        client.images.import_(image_id, url, input_format=input_format.value if input_format else None)
    result = {"id": image_id, "import_started": True, "url": url}
    print_done(t("import_started", image_id=image_id), json, result)


@app.command("import-status")
def import_status(ctx: typer.Context, image_id: ImageId, json: JsonOpt = False) -> None:
    """Show the progress (or the failure reason) of an image's import or upload."""
    with api_errors(), ctx.obj.client() as client:
        status = client.images.import_status(resolve(client, image_id))
    _print_import(status, json)


@app.command()
def download(
    ctx: typer.Context,
    image_id: ImageId,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write (a directory gets <id>.qcow2)")
    ],
    json: JsonOpt = False,
) -> None:
    """Download an image; the bytes are verified against its checksums before the file appears."""
    if not (output.is_dir() or output.parent.is_dir()):
        fail(t("not_a_directory", path=output.parent), EXIT_USAGE)
    with api_errors(), ctx.obj.client() as client:
        image_id = resolve(client, image_id)
        with progress_bar(t("downloading", image_id=image_id[:8]), json) as bar:
            path = client.images.download(image_id, output, progress=bar.bytes)
    result = {"id": image_id, "path": str(path), "size": path.stat().st_size}
    print_done(t("saved", path=path), json, result)


@app.command()
def wait(
    ctx: typer.Context,
    image_id: ImageId,
    status: Annotated[str, typer.Option(help="The status to wait for")] = "active",
    timeout: TimeoutOpt = 600,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between polls")] = 1.0,
    json: JsonOpt = False,
) -> None:
    """Wait for an image to reach a status, showing the import's progress; exit 1 if it is killed."""
    with api_errors(), ctx.obj.client() as client:
        image = _wait_with_bar(client, resolve(client, image_id), status, timeout, interval, json)
    _print_image(image, json)


@app.command()
def share(ctx: typer.Context, image_id: ImageId, json: JsonOpt = False) -> None:
    """Create Sharing Image: make an active image of yours shared, ready for members."""
    with api_errors(), ctx.obj.client() as client:
        image_id = resolve(client, image_id)
        client.images.share(image_id)
    print_done(t("shared", image_id=image_id), json, {"id": image_id, "visibility": "shared"})


@app.command()
def pending(
    ctx: typer.Context,
    image_type: ImageTypeOpt = None,
    original_image_type: OriginalTypeOpt = None,
    long: LongOpt = False,
    json: JsonOpt = False,
) -> None:
    """Images shared with your account that wait for your accept or reject."""
    with api_errors(), ctx.obj.client() as client:
        images = client.images.pending(image_type, original_image_type)
    _print_images(images, json, long)


@app.command()
def sources(ctx: typer.Context, long: LongOpt = False, json: JsonOpt = False) -> None:
    """The buckets and key prefixes your account may import from (granted by the operator)."""
    with api_errors(), ctx.obj.client() as client:
        grants = client.images.import_sources()
    if json:
        print_json({"import_sources": [grant.raw for grant in grants]})
    else:
        print_table(SOURCE_COLUMNS, [grant.raw for grant in grants], long)


# --- members -----------------------------------------------------------------------------------


@member_app.command("add")
def member_add(ctx: typer.Context, image_id: ImageId, member_id: MemberId, json: JsonOpt = False) -> None:
    """Share a (shared-visibility) image of yours with an account; it starts pending."""
    with api_errors(), ctx.obj.client() as client:
        member = client.images.members.add(resolve(client, image_id), member_id)
    _print_member(member, json)


@member_app.command("list")
def member_list(ctx: typer.Context, image_id: ImageId, long: LongOpt = False, json: JsonOpt = False) -> None:
    """The image's members (a member sees only itself)."""
    with api_errors(), ctx.obj.client() as client:
        members = client.images.members.list(resolve(client, image_id))
    if json:
        print_json({"members": [m.raw for m in members]})
    else:
        print_table(MEMBER_COLUMNS, [m.raw for m in members], long)


@member_app.command("show")
def member_show(ctx: typer.Context, image_id: ImageId, member_id: MemberId, json: JsonOpt = False) -> None:
    """One member of an image."""
    with api_errors(), ctx.obj.client() as client:
        member = client.images.members.get(resolve(client, image_id), member_id)
    _print_member(member, json)


def _own_member_id(ctx: typer.Context, client: Client, image_id: str, given: str | None) -> str:
    """The member answering: as given, else the --account-id, else the only member this key can see."""
    if given:
        return given
    creds = ctx.obj.credentials
    if creds is not None and creds.account_id:
        return str(creds.account_id)
    visible = client.images.members.list(image_id)
    if len(visible) != 1:
        fail(t("give_member_id"), EXIT_USAGE)
    return visible[0].member_id


def _answer(ctx: typer.Context, image_id: str, member_id: str | None, status: str, as_json: bool) -> None:
    with api_errors(), ctx.obj.client() as client:
        image_id = resolve(client, image_id)
        member = client.images.members.set_status(
            image_id, _own_member_id(ctx, client, image_id, member_id), status
        )
    _print_member(member, as_json)


OwnMemberId = Annotated[
    str | None, typer.Argument(help="Your account id (default: --account-id, or found from the image)")
]


@member_app.command("accept")
def member_accept(
    ctx: typer.Context, image_id: ImageId, member_id: OwnMemberId = None, json: JsonOpt = False
) -> None:
    """Accept an image shared with you: it then appears in your image list."""
    _answer(ctx, image_id, member_id, "accepted", json)


@member_app.command("reject")
def member_reject(
    ctx: typer.Context, image_id: ImageId, member_id: OwnMemberId = None, json: JsonOpt = False
) -> None:
    """Reject an image shared with you."""
    _answer(ctx, image_id, member_id, "rejected", json)


@member_app.command("remove")
def member_remove(ctx: typer.Context, image_id: ImageId, member_id: MemberId, json: JsonOpt = False) -> None:
    """Stop sharing an image of yours with an account."""
    with api_errors(), ctx.obj.client() as client:
        image_id = resolve(client, image_id)
        client.images.members.remove(image_id, member_id)
    result = {"image_id": image_id, "member_id": member_id, "removed": True}
    print_done(t("member_removed", member_id=member_id, image_id=image_id), json, result)
