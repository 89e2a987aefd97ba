"""How a Tempest run is judged: failures and skips outside the allowed list fail it; the summary says
each failure's first error line, Tempest's error body and the request refused. No Tempest needed."""

from __future__ import annotations

from pathlib import Path

from tests.interop.tempest_run import Result, Verdict, allowed_skip_patterns, refused_requests

TRACEBACK = """Traceback (most recent call last):
  File "tempest/lib/common/rest_client.py", line 877, in _error_checker
    raise exceptions.NotFound(resp_body, resp=resp)
tempest.lib.exceptions.NotFound: Object not found
Details: {'code': 404, 'title': 'Not Found', 'message': "no 'such' resource"}
"""
PASSED = Result("tempest.api.image.v2.test_versions.VersionsTest.test_list_versions", "success")
FAILED = Result("tempest.api.image.v2.test_images.ImportImagesTest.test_x", "fail", traceback=TRACEBACK)
NOVA = Result(
    "setUpClass (tempest.api.image.v2.test_images_formats.ImagesFormatTest)", "skip", "Nova is not available"
)
STORES = Result(
    "setUpClass (tempest.api.image.v2.test_images_negative.ImportImagesNegativeTest)",
    "skip",
    "No stores configured []",
)


def test_the_allowed_list_is_comments_and_patterns() -> None:
    patterns = allowed_skip_patterns()
    assert patterns and not any(p.pattern.startswith("#") for p in patterns)
    tempest_bug = "Skipped until bug: https://launchpad.net/bugs/2030527 is resolved."
    assert any(p.search(tempest_bug) for p in patterns)
    assert not any(p.search(STORES.reason) for p in patterns)  # a store we do not serve is not allowed


def test_passes_and_allowed_skips_are_ok_a_failure_or_another_skip_is_not() -> None:
    assert Verdict("run", [PASSED, NOVA], 1.0).ok
    assert not Verdict("run", [PASSED, NOVA, FAILED], 1.0).ok
    assert Verdict("run", [PASSED, STORES], 1.0).unallowed_skips == [STORES]
    assert not Verdict("run", [PASSED, STORES], 1.0).ok
    assert not Verdict("run", [], 1.0).ok  # a run that ran nothing proves nothing


def test_the_summary_names_the_error_the_body_and_the_refused_request(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(
        "INFO Request (ImportImagesTest:test_x): 201 POST http://127.0.0.1:1/image/v2/images 0.01s\n"
        "INFO Request (ImportImagesTest:test_x): 404 GET http://127.0.0.1:1/image/v2/images/i/tasks 0.01s\n"
        "INFO Request (ImportImagesTest:test_x): 200 GET http://127.0.0.1:1/image/v2/images/i 0.01s\n"
    )
    refused = refused_requests(log)
    assert refused == {"ImportImagesTest:test_x": "404 GET /image/v2/images/i/tasks"}
    summary = Verdict("image-suite", [PASSED, FAILED, NOVA, STORES], 12.0, refused).summary()
    assert summary.splitlines()[0] == (
        "image-suite: 1 passed, 1 failed, 2 skipped (1 not allowed) in 12 s"
    )
    assert "    tempest.lib.exceptions.NotFound: Object not found" in summary
    assert "    Details: 404 no 'such' resource" in summary
    assert "    404 GET /image/v2/images/i/tasks" in summary
    assert "SKIPPED, reason not allowed:\n  setUpClass (v2.test_images_negative.Import" in summary
    assert all(len(line) <= 80 for line in summary.splitlines() if line.startswith("    "))


def test_class_level_records_are_found_in_the_log_by_class() -> None:
    assert NOVA.log_name == "ImagesFormatTest:setUpClass"
    assert FAILED.log_name == "ImportImagesTest:test_x"
