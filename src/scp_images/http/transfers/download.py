"""An image's bytes answered, for both edges and for download links: a 307 to the object store when the
service decided so, else the whole file or one byte range, streamed on a transfer slot."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from scp_images.http.deps import Services, services
from scp_images.http.errors import envelope
from scp_images.http.responses import empty_response, json_response
from scp_images.services.data.downloads import Download

# ASCII digits only: ``\d`` would also match other scripts' digits, which int() accepts.
_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$", re.ASCII)
# More digits than any blob size can have; such a position is simply "past every end".
_MAX_DIGITS = 19


class _Unsatisfiable(Exception):
    pass


def _position(digits: str) -> int:
    """A byte position of any length as an int, without int()'s 4,300-digit limit: a number longer
    than 19 significant digits is larger than every size, so it is capped there."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= _MAX_DIGITS else 10**_MAX_DIGITS


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single range, or None for the whole file. Multi-range and
    malformed headers get the whole file, as RFC 9110 allows; a range past the end is refused."""
    match = _RANGE.match(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        length = _position(last)
        if length == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - length), size - 1
    start = _position(first)
    end = min(_position(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise _Unsatisfiable
    return start, end


def file_response(request: Request, download: Download, base: dict[str, str], request_id: str) -> Response:
    """How an image's bytes are answered, with the edge's ``base`` headers. The 416 keeps the SCP
    envelope on every edge, as it always has."""
    if download.redirect is not None:
        return _redirect(download.redirect(base.get("Content-Disposition")), base)
    svc = services(request)
    image, size = download.image, download.size
    assert image.checksum is not None
    headers = {
        **base,
        "Accept-Ranges": "bytes",
        "ETag": f'"{image.checksum}"',
        "Content-Type": "application/octet-stream",
    }
    try:
        wanted = _byte_range(request.headers.get("range"), size)
    except _Unsatisfiable:
        body = envelope(
            416,
            "virtualserver.request.RangeNotSatisfiable",
            "Range Not Satisfiable",
            f"the image has {size} bytes",
            request_id,
        )
        return json_response(body, 416, {**base, "Content-Range": f"bytes */{size}"})
    if wanted is None:
        headers["Content-Length"] = str(size)
        headers["Content-MD5"] = base64.b64encode(bytes.fromhex(image.checksum)).decode()
        return _stream(svc, download.read(0, None), 200, headers)
    start, end = wanted
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return _stream(svc, download.read(start, end - start + 1), 206, headers)


def _redirect(location: str, base: dict[str, str]) -> Response:
    """307 keeps the method; the client asks the object store for the bytes (and any Range) itself. The URL
    is a credential for a while: no cache may keep the answer."""
    headers = {**base, "Location": location, "Cache-Control": "no-store"}
    headers.pop("Content-Disposition", None)  # the object store answers it, presigned into the URL
    return empty_response(307, headers)


def _stream(svc: Services, chunks: Iterator[bytes], status: int, headers: dict[str, str]) -> Response:
    release = svc.transfers.acquire()
    try:
        return StreamingResponse(svc.transfers.body(chunks, release), status_code=status, headers=headers)
    except BaseException:
        release()
        raise
