"""Why an import or upload failed: a stable code and its English text, kept together on the import
record as ``code: text`` (the form ``GET /v1/images/{id}/import`` has always shown, e.g. ``not_qcow2:
the data does not start with the qcow2 magic …``). The code is what clients may depend on; the text
says what happened, and the next step is added when the reason is read (``render``), in the caller's
language (the Korean texts sit in the one error table, ``scp_images.http.errors``).
"""

from __future__ import annotations

from scp_images.domain import errors as e

# code -> the next step, in English. Every code a failure can carry is here (a test checks the Korean).
NEXT_STEPS: dict[str, str] = {
    # the disk-image inspectors' and the converter's refusals (DiskImageRejected.reason)
    **e.DISK_NEXT_STEPS,
    # the source, the account and the run
    "source_rejected": "Check the URL and that the file is there, or upload the file instead.",
    "no_object_storage": (
        "Upload the file instead ('scp-images image create --file', or Upload in the console)."
    ),
    "source_forbidden": "Ask the operator to grant the bucket, or upload the file instead.",
    "quota_exceeded": "Delete images or ask the operator to raise the quota, then import again.",
    "interrupted": "Start it again: 'scp-images image import ID --url …', or upload the file again.",
    "not_importable": "The image changed while it was importing: see it with 'scp-images image show ID'.",
    "refused": "Correct the request and import again.",
    "internal": "Try again; if it keeps failing, tell the operator the image id.",
}


def stored(code: str, text: str) -> str:
    """The reason as the import record keeps it."""
    return f"{code}: {text}"


def split(reason: str) -> tuple[str | None, str]:
    """(code, English text) of a stored reason; a reason written before codes has no code."""
    code, sep, text = reason.partition(": ")
    if sep and code in NEXT_STEPS:
        return code, text
    return None, reason


def code_of(error: BaseException) -> str:
    if isinstance(error, e.DiskImageRejected):
        return error.reason if error.reason in NEXT_STEPS else "not_qcow2"
    for cls, code in (
        (e.NoObjectStorage, "no_object_storage"),
        (e.ImportSourceRejected, "source_rejected"),
        (e.ImportSourceForbidden, "source_forbidden"),
        (e.QuotaExceeded, "quota_exceeded"),
        (e.UploadInterrupted, "interrupted"),
    ):
        if isinstance(error, cls):
            return code
    return "refused" if isinstance(error, e.DomainError) else "internal"


def failure_reason(error: BaseException) -> str:
    """The stored reason of a failed import: its code and what happened, in English."""
    code = code_of(error)
    if isinstance(error, e.DiskImageRejected):
        return stored(code, str(error.params["detail"]))
    if isinstance(error, e.DomainError):
        return stored(code, e.compose(error.template, "", error.params))
    return stored(code, f"internal error: {type(error).__name__}")


def render(reason: str | None) -> str | None:
    """The stored reason as an English reader gets it: what happened, then the next step."""
    if reason is None:
        return None
    code, text = split(reason)
    if code is None:
        return reason
    return f"{code}: {_sentence(text)} {NEXT_STEPS[code]}"


def _sentence(text: str) -> str:
    return text if text.endswith(".") else f"{text}."
