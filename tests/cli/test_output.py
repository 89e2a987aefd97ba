"""Sizes in CLI tables are in binary units (``192 KiB``, ``1.0 GiB``); ``--json`` keeps the bytes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scp_images.cli._output import human_size
from tests.api.helpers import publish
from tests.cli.conftest import Invoke, json_of
from tests.support.stack import Key, Stack

_UNITS = {
    "B": 1,
    "KiB": 1 << 10,
    "MiB": 1 << 20,
    "GiB": 1 << 30,
    "TiB": 1 << 40,
    "PiB": 1 << 50,
    "EiB": 1 << 60,
}


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (196_608, "192 KiB"),
        (10 * 1024, "10 KiB"),
        (1 << 30, "1.0 GiB"),
        (int(9.96 * (1 << 30)), "10 GiB"),
        ((1 << 20) - 1, "1.0 MiB"),  # 1023.999 KiB rounds into the next unit, never "1024 KiB"
        (5 * (1 << 40), "5.0 TiB"),
    ],
)
def test_human_sizes(size: int, shown: str) -> None:
    assert human_size(size) == shown


@given(st.integers(min_value=0, max_value=1 << 62))
def test_a_shown_size_is_close_to_the_bytes(size: int) -> None:
    match = re.fullmatch(r"(\d+(?:\.\d)?) (B|KiB|MiB|GiB|TiB|PiB|EiB)", human_size(size))
    assert match, human_size(size)
    number, unit = float(match[1]), match[2]
    assert number < 1024 or unit == "EiB"
    step = 0.1 if "." in match[1] else 1.0  # one decimal below 10 of a unit, whole numbers above
    assert abs(number * _UNITS[unit] - size) <= step / 2 * _UNITS[unit] * 1.0001  # rounding, not more


def test_tables_show_units_and_json_keeps_bytes(
    stack: Stack, owner: Key, invoke: Invoke, make_qcow2: Callable[..., Path]
) -> None:
    disk = make_qcow2("sized.qcow2", "1M", data=False)
    size = disk.stat().st_size  # 192 KiB and a few bytes, depending on qemu-img's version
    image_id = str(publish(stack, disk, owner.account_id)["id"])

    table = invoke(owner, "list")
    assert table.exit_code == 0 and "192 KiB" in table.stdout and str(size) not in table.stdout
    shown = invoke(owner, "show", image_id)
    assert shown.exit_code == 0 and "192 KiB" in shown.stdout and "1.0 MiB" in shown.stdout  # virtual size
    assert json_of(invoke(owner, "list", "--json"))["images"][0]["size"] == size
    as_json = json_of(invoke(owner, "show", image_id, "--json"))
    assert (as_json["size"], as_json["virtual_size"]) == (size, 1 << 20)
