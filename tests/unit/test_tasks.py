"""The task view's rules on their own: the one status mapping, the legacy import body, the list's
parameters (hostile input refused with a 400's error, never anything else)."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scp_images.domain.errors import InvalidRequest
from scp_images.domain.jobs import ImportJob, ImportPhase, JobSource, JobStatus
from scp_images.domain.tasks import (
    JOB_STATUS,
    MAX_TASK_LIMIT,
    TASK_STATUS,
    ImportMethod,
    TaskSortKey,
    TaskStatus,
    TaskType,
    import_request,
    legacy_import,
    parse_task_query,
    task_of,
)

T0 = datetime(2026, 12, 7, 12, 0, 0)


def test_every_job_status_maps_to_one_task_status_and_back() -> None:
    assert set(TASK_STATUS) == set(JobStatus)
    assert set(TASK_STATUS.values()) == set(TaskStatus)
    assert all(JOB_STATUS[task] is job for job, task in TASK_STATUS.items())


def _job(status: JobStatus, **fields: Any) -> ImportJob:
    request = import_request("img", ImportMethod.UPLOAD, request_id="req-1", requested_by="u")
    values: dict[str, Any] = dict(
        image_id="img",
        url=None,
        source=JobSource.UPLOAD,
        status=status,
        bytes_read=0,
        bytes_total=None,
        reason=None,
        attempts=1,
        claimed_by="w",
        heartbeat_at=T0,
        created_at=T0,
        started_at=T0,
        finished_at=None,
        request=request,
    )
    values.update(fields)
    return ImportJob(**values)


def test_a_job_nobody_asked_for_is_no_task() -> None:
    assert task_of(_job(JobStatus.SUCCEEDED, request=None), "acct") is None


def test_a_failed_jobs_task_carries_its_reason_and_expires() -> None:
    task = task_of(_job(JobStatus.FAILED, reason="bad header", finished_at=T0), "acct")
    assert task is not None
    assert (task.status, task.message, task.result, task.updated_at) == (
        TaskStatus.FAILURE,
        "bad header",
        None,
        T0,
    )
    assert task.expires_at is not None and task.expires_at > T0


def test_a_running_jobs_task_is_processing_without_expiry_or_message() -> None:
    task = task_of(_job(JobStatus.RUNNING, reason="stale"), "acct")
    assert task is not None
    assert (task.status, task.message, task.expires_at) == (TaskStatus.PROCESSING, "", None)


def test_a_running_jobs_task_says_its_phase_in_the_message() -> None:
    converting = task_of(_job(JobStatus.RUNNING, phase=ImportPhase.CONVERTING, percent=42), "acct")
    hashing = task_of(_job(JobStatus.RUNNING, phase=ImportPhase.HASHING), "acct")
    done = task_of(_job(JobStatus.SUCCEEDED, phase=ImportPhase.STORING, percent=100, finished_at=T0), "acct")
    assert converting is not None and converting.message == "converting 42%"
    assert hashing is not None and hashing.message == "hashing"
    assert done is not None and done.message == ""


def test_an_import_requests_uri_is_redacted() -> None:
    request = import_request(
        "img", ImportMethod.WEB_DOWNLOAD, uri="https://m.test/d?sig=abc", request_id=None, requested_by=None
    )
    assert request.task_input["import_req"]["method"] == {
        "name": "web-download",
        "uri": "https://m.test/d?sig=REDACTED",
    }


GOOD = {"type": "import", "input": {"import_from": "https://m.test/d", "import_from_format": "raw"}}


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"type": "import"},
        {"input": {}},
        {**GOOD, "extra": 1},
        {**GOOD, "type": "api_image_import"},
        {**GOOD, "input": "x"},
        {**GOOD, "input": {"import_from": "", "import_from_format": "raw"}},
        {**GOOD, "input": {"import_from": "https://m.test/d", "import_from_format": "vmdk"}},
        {**GOOD, "input": {**GOOD["input"], "image_properties": []}},  # type: ignore[dict-item]
        {**GOOD, "input": {**GOOD["input"], "image_properties": {"disk_format": "qcow2"}}},  # type: ignore[dict-item]
    ],
)
def test_a_bad_import_task_is_a_400(body: Any) -> None:
    with pytest.raises(InvalidRequest):
        legacy_import(body)


def test_the_image_takes_the_source_format() -> None:
    assert legacy_import(GOOD).image_properties == {"disk_format": "raw"}


@settings(deadline=None)  # timing is not what these check (a loaded CI host)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_any_body_is_a_task_or_a_400(body: Any) -> None:
    with contextlib.suppress(InvalidRequest):
        legacy_import(body)


def test_list_parameters_as_glance() -> None:
    query = parse_task_query({"status": "processing", "type": "import", "sort_key": "id", "sort_dir": "asc"})
    assert (query.status, query.type, query.sort_key, query.descending) == (
        TaskStatus.PROCESSING,
        TaskType.IMPORT,
        TaskSortKey.ID,
        False,
    )
    assert parse_task_query({"limit": "5000", "owner": "ignored"}).limit == MAX_TASK_LIMIT
    assert parse_task_query({}).sort_key is TaskSortKey.CREATED_AT and parse_task_query({}).descending


@pytest.mark.parametrize(
    "params",
    [
        {"status": "running"},
        {"type": "copy"},
        {"sort_key": "owner"},
        {"sort_dir": "up"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"marker": "not-a-uuid"},
        {"limit": "9" * 30},
    ],
)
def test_bad_list_parameters_are_a_400(params: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        parse_task_query(params)


@settings(deadline=None)  # timing is not what these check (a loaded CI host)
@given(
    st.dictionaries(st.sampled_from(["status", "type", "sort_key", "sort_dir", "marker", "limit"]), st.text())
)
def test_any_list_parameters_parse_or_are_a_400(params: dict[str, str]) -> None:
    with contextlib.suppress(InvalidRequest):
        parse_task_query(params)
