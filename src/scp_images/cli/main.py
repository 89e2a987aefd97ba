"""Entry point of the ``scp-images`` command."""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Annotated

import typer

from scp_images.cli import image
from scp_images.cli._groups import GlobalOptionsGroup

DEBUG_VARIABLE = "SCP_IMAGES_DEBUG"  # read by the operator commands' one-line errors (cli/_settings.py)

app = typer.Typer(
    help="scp-images: an SCP-compatible virtual machine image service.",
    no_args_is_help=True,
    cls=GlobalOptionsGroup,
)
app.add_typer(image.app, name="image")


@app.callback()
def global_options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", envvar=DEBUG_VARIABLE, help="Show the traceback behind a one-line error (any position)"
        ),
    ] = False,
) -> None:
    if debug:  # also for the processes of `serve --workers N`, which inherit the environment
        os.environ[DEBUG_VARIABLE] = "1"


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
