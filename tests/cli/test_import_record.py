"""``image import-status`` shows a conversion's phase with its percentage and the original disk one
figure a line, and ``--json`` the server's body as it came."""

from __future__ import annotations

import json

import pytest

from scp_images.cli.image import _print_import
from scp_images.client import ImportStatus

ORIGINAL = {"disk_format": "vhdx", "size": 4096, "sha512": "ef" * 64}
BODY = {
    "image_id": "img",
    "status": "running",
    "url": None,
    "bytes_read": 4096,
    "bytes_total": 4096,
    "reason": None,
    "started_at": "2026-12-07T12:00:00Z",
    "finished_at": None,
    "phase": "converting",
    "percent": 42,
    "input_format": None,
    "original": ORIGINAL,
}


def test_the_record_shows_phase_percent_and_the_original(capsys: pytest.CaptureFixture[str]) -> None:
    _print_import(ImportStatus.from_dict(BODY), as_json=False)
    fields = [[*line.split(None, 1), ""][:2] for line in capsys.readouterr().out.splitlines()[1:]]
    lines = {key: value for key, value in fields}
    assert lines["phase"] == "converting 42%"
    assert "percent" not in lines and "original" not in lines
    assert (lines["original_disk_format"], lines["original_size"]) == ("vhdx", "4.0 KiB")
    assert lines["original_sha512"] == "ef" * 64


def test_an_original_sha512_not_known_yet_shows_as_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """While the conversion runs the original's sha512 is null: its line stays, with no value (not
    "None")."""
    converting = {**BODY, "original": {**ORIGINAL, "sha512": None}}
    _print_import(ImportStatus.from_dict(converting), as_json=False)
    out = capsys.readouterr().out
    lines = dict([*line.split(None, 1), ""][:2] for line in out.splitlines()[1:])
    assert (lines["original_disk_format"], lines["original_sha512"]) == ("vhdx", "")
    assert "None" not in out and "null" not in out


def test_json_is_the_servers_body(capsys: pytest.CaptureFixture[str]) -> None:
    _print_import(ImportStatus.from_dict(BODY), as_json=True)
    assert json.loads(capsys.readouterr().out) == BODY
