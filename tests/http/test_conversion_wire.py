"""What the edges show and take about a converted disk (issue 21): the SCP import status's phase, percent,
input format and original disk; the v2 edge's disk and container formats and its read-only
``original_*`` attributes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from scp_images.domain.disk_formats import DiskFormat, OriginalDisk
from scp_images.domain.errors import Forbidden, InvalidRequest
from scp_images.domain.jobs import ImportJob, ImportPhase, JobSource, JobStatus
from scp_images.http.openstack.attributes import create_fields
from scp_images.http.openstack.images import new_image_spec
from scp_images.http.openstack.patch import PatchForm, apply_patch, parse_patch
from scp_images.http.openstack.views import original_v2
from scp_images.http.schemas import import_body

T0 = datetime(2026, 12, 7, 12, 0, 0)
SHA = "ab" * 64


def _job(**fields: Any) -> ImportJob:
    values: dict[str, Any] = dict(
        image_id="img",
        url=None,
        source=JobSource.UPLOAD,
        status=JobStatus.RUNNING,
        bytes_read=10,
        bytes_total=10,
        reason=None,
        attempts=1,
        claimed_by="w",
        heartbeat_at=T0,
        created_at=T0,
        started_at=T0,
        finished_at=None,
    )
    values.update(fields)
    return ImportJob(**values)


def test_a_converting_jobs_status_shows_phase_percent_and_the_original() -> None:
    original = OriginalDisk(DiskFormat.VMDK.value, 10, SHA)
    body = import_body(_job(phase=ImportPhase.CONVERTING, percent=42, original=original))
    assert {k: body[k] for k in ("phase", "percent", "input_format", "original")} == {
        "phase": "converting",
        "percent": 42,
        "input_format": None,
        "original": {"disk_format": "vmdk", "size": 10, "sha512": SHA},
    }


def test_a_job_before_conversion_shows_nulls_and_the_declared_input() -> None:
    body = import_body(_job(input_format="raw"))
    shown = (body["phase"], body["percent"], body["input_format"], body["original"])
    assert shown == (None, None, "raw", None)
    assert set(body) == {
        "image_id", "status", "url", "bytes_read", "bytes_total", "reason", "started_at", "finished_at",
        "phase", "percent", "input_format", "original",
    }  # fmt: skip


def test_an_ova_is_shown_on_v2_as_a_vmdk_in_an_ova_container() -> None:
    assert original_v2(OriginalDisk("ova", 5, SHA)) == {
        "original_disk_format": "vmdk",
        "original_container_format": "ova",
        "original_size": 5,
        "original_sha512": SHA,
    }
    shown = original_v2(OriginalDisk("vhdx", 7, SHA))
    assert (shown["original_disk_format"], shown["original_container_format"]) == ("vhdx", "bare")


def test_an_original_whose_sha512_is_not_known_yet_is_shown_null_on_scp_and_left_out_on_v2() -> None:
    """While the conversion computes it, the import status says null; a v2 attribute is never null, so
    ``original_sha512`` is left out until it is set."""
    original = OriginalDisk("vmdk", 10, None)
    body = import_body(_job(phase=ImportPhase.CONVERTING, percent=0, original=original))
    assert body["original"] == {"disk_format": "vmdk", "size": 10, "sha512": None}
    assert original_v2(original) == {
        "original_disk_format": "vmdk",
        "original_container_format": "bare",
        "original_size": 10,
    }


@pytest.mark.parametrize("disk_format", ["qcow2", "raw", "vmdk", "vhdx", "vhd", "vdi"])
def test_v2_takes_glances_disk_formats(disk_format: str) -> None:
    spec = new_image_spec({"disk_format": disk_format, "container_format": "bare"}, "acct")
    assert (spec.disk_format, spec.container_format) == (disk_format, "bare")


def test_an_ova_container_is_a_vmdk() -> None:
    assert new_image_spec({"container_format": "ova"}, "acct").disk_format == "vmdk"
    assert new_image_spec({"container_format": "ova", "disk_format": "vmdk"}, "acct").disk_format == "vmdk"


@pytest.mark.parametrize(
    "body", [{"disk_format": "iso"}, {"disk_format": "ova"}, {"container_format": "ovf"}]
)
def test_other_formats_are_a_400(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        create_fields(body, "acct")


@pytest.mark.parametrize("name", ["original_disk_format", "original_container_format", "original_sha512"])
def test_the_original_attributes_are_read_only(name: str) -> None:
    with pytest.raises(Forbidden, match="read-only"):
        create_fields({name: "vmdk"}, "acct")
    with pytest.raises(Forbidden, match="read-only"):
        create_fields({"original_size": 3}, "acct")
    for form, operation in (
        (PatchForm.RFC_6902, {"op": "replace", "path": f"/{name}", "value": "x"}),
        (PatchForm.RFC_6902, {"op": "remove", "path": f"/{name}"}),
        (PatchForm.DRAFT_4, {"add": f"/{name}", "value": "x"}),
    ):
        with pytest.raises(Forbidden, match="read-only"):
            apply_patch({}, parse_patch([operation], form), form)
