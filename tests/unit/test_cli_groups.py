"""Group options typed after the subcommand are moved in front of it, values and all; nothing else moves."""

from __future__ import annotations

import pytest

from scp_images.cli._groups import hoist

OPTIONS = {"--data-dir": True, "--debug": False}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["account", "list", "--data-dir", "X"], ["--data-dir", "X", "account", "list"]),
        (["account", "list", "--data-dir=X", "--json"], ["--data-dir=X", "account", "list", "--json"]),
        (["account", "--debug", "list"], ["--debug", "account", "list"]),
        (["--data-dir", "X", "account", "list"], ["--data-dir", "X", "account", "list"]),
        (["image", "import", "--", "--data-dir", "X"], ["image", "import", "--", "--data-dir", "X"]),
        (["account", "list", "--data-dir"], ["account", "list", "--data-dir"]),  # no value: not moved
        (["account", "list", "--debug=1"], ["account", "list", "--debug=1"]),  # not ours: click refuses
        (["account", "list", "--data-directory", "X"], ["account", "list", "--data-directory", "X"]),
    ],
)
def test_hoist(args: list[str], expected: list[str]) -> None:
    assert hoist(args, OPTIONS) == expected
