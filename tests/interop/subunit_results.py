"""Run by the Tempest venv's Python (it has subunit and testtools; the project's environment does not):
reads a subunit v2 stream on stdin, writes one JSON object per test on stdout:
``{"id": ..., "status": "success|fail|skip|...", "reason": ..., "traceback": ...}``.

The id has Tempest's ``[id-…,tags]`` suffix removed; a class-level failure or skip (``setUpClass``)
comes as one record named after the class, as stestr reports it."""

import json
import re
import sys

import subunit
import testtools

SUFFIX = re.compile(r"\[.*\]$")


def text(details, name):
    content = details.get(name)
    if content is None:
        return ""
    return b"".join(bytes(chunk) for chunk in content.iter_bytes()).decode("utf-8", "replace")


def emit(test):
    if test["status"] == "exists":  # the listing before the run
        return
    details = test["details"]
    record = {
        "id": SUFFIX.sub("", test["id"]),
        "status": test["status"],
        "reason": text(details, "reason"),
        "traceback": text(details, "traceback"),
    }
    sys.stdout.write(json.dumps(record) + "\n")


def main():
    stream = subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name="stdout")
    result = testtools.StreamToDict(emit)
    result.startTestRun()
    try:
        stream.run(result)
    finally:
        result.stopTestRun()


if __name__ == "__main__":
    main()
