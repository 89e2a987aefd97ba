"""Entry point of the ``scp-images`` command."""

from __future__ import annotations

import importlib.util

import typer

from scp_images.cli import image

app = typer.Typer(help="scp-images: an SCP-compatible virtual machine image service.", no_args_is_help=True)
app.add_typer(image.app, name="image")


def _add_operator_commands() -> None:
    """The operator commands need the server extra; without it the user commands still work."""
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("sqlalchemy") is None:
        return  # pragma: no cover - SDK-only install
    from scp_images.cli import admin, server

    app.add_typer(admin.app, name="admin")
    app.command()(server.serve)
    app.command()(server.worker)


_add_operator_commands()


def main() -> None:
    app()
