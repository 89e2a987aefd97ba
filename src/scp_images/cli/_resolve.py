"""Which image an ``image …`` argument names: an id, an exact name, or a unique id prefix of at least
eight characters, tried in that order (as ``openstack image show`` and ``docker`` do)."""

from __future__ import annotations

import re
import uuid

import typer

from scp_images.cli._messages import t
from scp_images.cli._output import (
    EXIT_API_ERROR,
    EXIT_USAGE,
    Column,
    err_console,
    name_column,
    print_error,
    print_table,
)
from scp_images.client import Client, Image

MIN_PREFIX = 8
_PREFIX = re.compile(r"[0-9a-fA-F-]+")


def _is_id(ref: str) -> bool:
    try:
        return str(uuid.UUID(ref)) == ref.lower()
    except ValueError:
        return False


def _visible(client: Client, name: str | None = None) -> list[Image]:
    """Every image the caller can list (every page), and the ones shared with it still pending."""
    found = {image.id: image for image in client.images.iter(page_size=1000, name=name)}
    for image in client.images.pending():
        if name is None or image.name == name:
            found.setdefault(image.id, image)
    return list(found.values())


def _stop(message: str, code: int, candidates: list[Image] | None = None) -> typer.Exit:
    print_error(message)
    if candidates:
        # a small table on stderr: stdout stays clean for scripts that read it
        columns = (Column("id", kind="id"), name_column())
        rows = [{"id": image.id, "name": image.name} for image in candidates]
        print_table(columns, rows, stream=err_console)
    return typer.Exit(code)


def resolve(client: Client, ref: str) -> str:
    """The id of the one image ``ref`` names; exits 2 when it names several, 1 when it names none."""
    if _is_id(ref):
        return ref.lower()
    named = _visible(client, name=ref)
    if len(named) == 1:
        return named[0].id
    if len(named) > 1:
        raise _stop(t("ref_names_several", count=len(named), ref=repr(ref)), EXIT_USAGE, named)
    if len(ref) >= MIN_PREFIX and _PREFIX.fullmatch(ref):
        prefix = ref.lower()
        matches = [image for image in _visible(client) if image.id.startswith(prefix)]
        if len(matches) == 1:
            return matches[0].id
        if matches:
            many = t("ref_prefix_several", count=len(matches), ref=repr(ref))
            raise _stop(many, EXIT_USAGE, matches)
    short = t("ref_prefix_short") if _PREFIX.fullmatch(ref) and len(ref) < MIN_PREFIX else ""
    raise _stop(t("ref_not_found", ref=repr(ref), short=short), EXIT_API_ERROR)
