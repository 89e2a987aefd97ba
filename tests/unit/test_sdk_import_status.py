"""The SDK reads the import status's conversion fields (issue 21), and still reads a server's answer
without them."""

from __future__ import annotations

from typing import Any

from scp_images.client import ImportStatus, OriginalDisk

BASE: dict[str, Any] = {
    "image_id": "img",
    "status": "running",
    "url": None,
    "bytes_read": 5,
    "bytes_total": 5,
    "reason": None,
    "started_at": "2026-12-07T12:00:00Z",
    "finished_at": None,
}


def test_phase_percent_input_format_and_original_are_read() -> None:
    original = {"disk_format": "ova", "size": 5, "sha512": "cd" * 64}
    data = {**BASE, "phase": "converting", "percent": 42, "input_format": None, "original": original}
    status = ImportStatus.from_dict(data)
    assert (status.phase, status.percent, status.input_format) == ("converting", 42, None)
    assert status.original == OriginalDisk("ova", 5, "cd" * 64)
    assert status.raw == data


def test_an_original_whose_sha512_is_not_known_yet_reads_as_none() -> None:
    """While a conversion runs the server shows the original's sha512 as null (it is computed beside
    qemu-img): the SDK reads it as None."""
    original = {"disk_format": "vmdk", "size": 5, "sha512": None}
    status = ImportStatus.from_dict({**BASE, "phase": "converting", "percent": 0, "original": original})
    assert status.original == OriginalDisk("vmdk", 5, None)
    assert status.original is not None and status.original.sha512 is None


def test_an_answer_without_them_reads_as_none() -> None:
    status = ImportStatus.from_dict(BASE)
    assert (status.phase, status.percent, status.input_format, status.original) == (None, None, None, None)
