"""Entry point of the ``scp-images`` command."""

from __future__ import annotations

import importlib.util
import sys

import typer

from scp_images.cli import image

app = typer.Typer(help="scp-images: an SCP-compatible virtual machine image service.", no_args_is_help=True)
app.add_typer(image.app, name="image")


OPERATOR_COMMANDS = ("admin", "serve", "worker")


def _add_operator_commands(argv: list[str]) -> None:
    """The operator commands need the server extra; without it the user commands still work.
    They are loaded only when asked for (or for help), which keeps ``image`` commands quick."""
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("sqlalchemy") is None:
        return  # pragma: no cover - SDK-only install
    wanted = next((a for a in argv if not a.startswith("-")), None)
    if wanted is not None and wanted not in OPERATOR_COMMANDS:
        return
    from scp_images.cli import admin, server

    app.add_typer(admin.app, name="admin")
    app.command()(server.serve)
    app.command()(server.worker)


def main() -> None:
    _add_operator_commands(sys.argv[1:])
    app()
