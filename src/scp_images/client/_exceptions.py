"""SDK exceptions::

ScpImagesError
├── TransportError          the server could not be reached or the connection broke
├── IntegrityError          downloaded bytes do not match the image's checksum/os_hash_value
├── WaitTimeout             images.wait gave up
├── ImageKilled             images.wait saw the image end `killed` (carries the reason)
└── ApiError                the server answered with an error envelope (status, code, detail, request_id)
    ├── BadRequestError         400
    ├── AuthenticationError     401
    ├── PermissionDeniedError   403
    ├── NotFoundError           404
    ├── ConflictError           409
    ├── PayloadTooLargeError    413
    │   └── QuotaExceededError      an account quota (code virtualserver.quota.*, `limit` named in detail)
    ├── RateLimitError          429
    └── ServerError             5xx
"""

from __future__ import annotations

from typing import Any


class ScpImagesError(Exception):
    # Set by images.create_from_file when the failure came after it created the image: its id, whether
    # it was removed again, and why not when its removal failed.
    created_image_id: str | None = None
    created_image_removed: bool = False
    cleanup_error: ScpImagesError | None = None


class TransportError(ScpImagesError):
    """``endpoint`` is the base URL the client was talking to (None for a URL the server handed out);
    the underlying error is ``__cause__``."""

    def __init__(self, message: str, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class IntegrityError(ScpImagesError):
    pass


class WaitTimeout(ScpImagesError):
    def __init__(self, image_id: str, status: str, wanted: str, timeout: float) -> None:
        super().__init__(f"image {image_id} is still {status} after {timeout:g}s (waiting for {wanted})")
        self.image_id, self.status, self.wanted, self.timeout = image_id, status, wanted, timeout


class ImageKilled(ScpImagesError):
    def __init__(self, image_id: str, reason: str | None) -> None:
        super().__init__(f"image {image_id} was killed: {reason or 'no reason recorded'}")
        self.image_id = image_id
        self.reason = reason


class ApiError(ScpImagesError):
    def __init__(self, status: int, code: str, detail: str, request_id: str | None, title: str = "") -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.request_id = request_id
        self.title = title
        self.endpoint: str | None = None  # the client's base URL, set by the client that got the answer


class BadRequestError(ApiError):
    pass


class AuthenticationError(ApiError):
    pass


class PermissionDeniedError(ApiError):
    pass


class NotFoundError(ApiError):
    pass


class ConflictError(ApiError):
    pass


class PayloadTooLargeError(ApiError):
    pass


class QuotaExceededError(PayloadTooLargeError):
    """One of the account's quotas would be exceeded; ``code`` says which (``…ImageCountTotalExceeded``,
    ``…ImageSizeTotalExceeded``, ``…ImageCountUploadingExceeded``), ``detail`` the limit and the usage."""


QUOTA_CODE_PREFIX = "virtualserver.quota."


class RateLimitError(ApiError):
    pass


class ServerError(ApiError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def api_error(status: int, body: Any, request_id: str | None) -> ApiError:
    """Build the typed error from SCP's envelope (``{"errors": [{...}]}``), tolerating other shapes."""
    item: dict[str, Any] = {}
    if isinstance(body, dict):
        errors = body.get("errors")
        item = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else body
    code = str(item.get("code") or item.get("error") or f"http.{status}")
    detail = item.get("detail") or item.get("message") or ""
    if isinstance(detail, list):
        detail = "; ".join(map(str, detail))
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    if status == 413:
        cls = QuotaExceededError if code.startswith(QUOTA_CODE_PREFIX) else PayloadTooLargeError
    return cls(status, code, str(detail), item.get("request_id") or request_id, str(item.get("title") or ""))
