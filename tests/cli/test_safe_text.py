"""The one function tenant text goes through (``safe``), and the table and record printers around it,
with any text at all: nothing a terminal would act on gets out, and one record stays one line."""

from __future__ import annotations

import io
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from scp_images.cli import _output
from scp_images.cli._output import Column, cut, name_column, print_record, print_table, quoted, safe

# Characters a terminal acts on or that reorder or break a line.
DANGEROUS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
OWN_CODES = re.compile(r"\x1b\[[0-9;]*m")
HOSTILE_PIECES = [
    "[/x]", "[link=http://e]x[/link]", "[bold]", "\x1b[31m", "\x1b]8;;http://e\x1b\\", "\x9b", "\n", "\t",
    "\u202e", "\r", "\x7f", "\u2028", "[/]", "\\x1b",
]  # fmt: skip
texts = st.lists(st.sampled_from(HOSTILE_PIECES) | st.text(max_size=12), max_size=8).map("".join)


@given(st.text())
def test_safe_text_has_nothing_a_terminal_acts_on(text: str) -> None:
    shown = safe(text)
    assert not DANGEROUS.search(shown) and "\n" not in shown
    assert not any(unicodedata.category(c) == "Cs" for c in shown)
    plain = all(not DANGEROUS.search(c) and unicodedata.category(c) != "Cs" for c in text)
    assert (shown == text) == plain  # printable text is left as it is, anything else changes
    assert not DANGEROUS.search(quoted(text))


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
        ("\x9b2J", "\\x9b2J"),
        ("abc\u202edef", "abc\\u202edef"),
        ("x\u2028y", "x\\u2028y"),
        ("[/x][link=http://e]x[/link]", "[/x][link=http://e]x[/link]"),
        ("ubuntu 22.04 한글", "ubuntu 22.04 한글"),
    ],
)
def test_safe_examples(text: str, shown: str) -> None:
    assert safe(text) == shown


def test_quoted_marks_anything_but_one_plain_word() -> None:
    assert quoted("AKIA0123") == "AKIA0123"
    assert quoted("AK  image.delete  204  ok") == '"AK  image.delete  204  ok"'
    assert quoted('a"b\\c') == '"a\\"b\\\\c"'
    assert quoted("k\x1b[2J") == '"k\\x1b[2J"'


@given(st.text(min_size=1, max_size=80), st.integers(min_value=2, max_value=40))
def test_cut_fits_and_marks_what_it_left_out(text: str, width: int) -> None:
    text = safe(text)
    shown = cut(text, width)
    assert cell_len(shown) <= width
    assert shown == text if cell_len(text) <= width else shown.endswith("…")


def _capture(monkeypatch: pytest.MonkeyPatch, width: int, terminal: bool) -> io.StringIO:
    out = io.StringIO()
    colours = "standard" if terminal else None
    console = Console(file=out, width=width, force_terminal=terminal, color_system=colours)
    monkeypatch.setattr(_output, "console", console)
    return out


COLUMNS = (
    Column("id", kind="id"),
    name_column(),
    Column("tag", drop=1),
    Column("who", kind="quoted", cut=20),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(texts, texts, texts), min_size=1, max_size=5), st.sampled_from([80, 120]))
def test_any_table_fits_has_a_line_a_row_and_no_foreign_codes(
    rows: list[tuple[str, str, str]], width: int
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        for terminal in (True, False):
            out = _capture(monkeypatch, width, terminal)
            records = [
                {"id": f"{i:08x}-aaaa", "name": n, "tag": t, "who": w} for i, (n, t, w) in enumerate(rows)
            ]
            print_table(COLUMNS, records)
            text = OWN_CODES.sub("", out.getvalue())
            assert "\x1b" not in text and not re.search("[\x80-\x9f]", text)
            lines = text.splitlines()
            assert len(lines) == 1 + len(rows)
            assert lines[0].split()[:2] == ["id", "name"]  # header words whole
            if terminal:
                assert max(cell_len(line) for line in lines) <= width
                assert all(line.startswith(f"{i:08x}  ") for i, line in enumerate(lines[1:]))
            else:
                assert all(line.startswith(f"{i:08x}-aaaa  ") for i, line in enumerate(lines[1:]))


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(texts, texts | st.lists(texts, max_size=3), min_size=1, max_size=5))
def test_a_record_is_a_line_a_field_and_shows_every_value_whole(record: dict[str, object]) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        out = _capture(monkeypatch, 80, False)
        print_record("Image [/x]\x1b[2J", record)
        text = out.getvalue()
        assert "\x1b" not in text and not re.search("[\x80-\x9f]", text)
        lines = text.splitlines()
        assert lines[0] == "Image [/x]\\x1b[2J" and len(lines) == 1 + len(record)
        for line, value in zip(lines[1:], record.values(), strict=True):
            assert line.endswith(_output.cell("x", value))
