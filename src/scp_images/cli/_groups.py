"""Command groups whose own options may also be typed after a subcommand.

``scp-images admin account list --data-dir X`` reads as ``scp-images admin --data-dir X account list``:
before parsing, a group moves its own options (and their values) found after the subcommand to the
front. An option a subcommand defines itself under the same name stays where it is, as do ``--help``
and everything after ``--``."""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup

# Typer carries its own copy of click's classes: options are told by their kind, not their class.


def _options(command: Any, ctx: Any) -> list[Any]:
    return [param for param in command.get_params(ctx) if param.param_type_name == "option"]


def _option_names(command: Any, ctx: Any) -> set[str]:
    names: set[str] = set()
    for param in _options(command, ctx):
        names.update(param.opts + param.secondary_opts)
    for sub in getattr(command, "commands", {}).values():
        names |= _option_names(sub, ctx)
    return names


def hoist(args: list[str], options: dict[str, bool]) -> list[str]:
    """``args`` with the named options moved to the front; ``options`` maps a name to whether it takes
    a value (``--data-dir X`` or ``--data-dir=X``)."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest += args[index:]
            break
        name, equals, _ = arg.partition("=")
        takes_value = options.get(name)
        dangling = takes_value and not equals and index + 1 == len(args)  # left for click to refuse
        if takes_value is None or (equals and not takes_value) or dangling:
            rest.append(arg)
            index += 1
            continue
        width = 2 if takes_value and not equals else 1
        front += args[index : index + width]
        index += width
    return front + rest


class GlobalOptionsGroup(TyperGroup):
    """A Typer group whose options are accepted before or after its subcommands."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not ctx.resilient_parsing:
            args = hoist(args, self._global_options(ctx))
        return super().parse_args(ctx, args)

    def _global_options(self, ctx: Any) -> dict[str, bool]:
        taken: set[str] = set()
        for sub in self.commands.values():
            taken |= _option_names(sub, ctx)
        options: dict[str, bool] = {}
        for param in _options(self, ctx):
            if not param.is_eager:  # not --help, nor the completion options
                for name in param.opts + param.secondary_opts:
                    if name not in taken:
                        options[name] = not (param.is_flag or param.count)
        return options
