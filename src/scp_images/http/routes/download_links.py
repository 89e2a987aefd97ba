"""Download links (an extension): a signed call gets a short-lived URL that streams the image with no SCP
headers, so a browser can save a multi-GB image by simply opening it (the console), and so can any tool.

``POST /v1/images/{id}/download-link`` -> ``{"url", "expires_at"}``; ``GET`` on that URL answers exactly as
``GET /v2/images/{id}/file`` does (whole file or a range; whatever that route does, this one follows), plus
``Content-Disposition: attachment``.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from scp_images.domain.errors import Unauthenticated
from scp_images.domain.image import Image, parse_image_id
from scp_images.domain.principal import Action
from scp_images.http.deps import services
from scp_images.http.public_url import public_base_url
from scp_images.http.responses import json_response
from scp_images.http.schemas import rfc3339
from scp_images.http.transfers.download import file_response

router = APIRouter()

_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
_LINK_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@router.post("/v1/images/{image_id}/download-link")
def create_download_link(request: Request, image_id: str) -> Response:
    svc = services(request)
    call = svc.guard.authorize(request, Action.SHOW_IMAGE)
    link = svc.links.issue(call.principal, image_id)
    url = f"{public_base_url(request)}/v1/images/{link.image_id}/download?link={link.token}"
    body = {"url": url, "expires_at": rfc3339(link.expires_at)}
    return json_response(body, headers={**call.headers, "Cache-Control": "no-store"})


@router.get("/v1/images/{image_id}/download")
def download_by_link(request: Request, image_id: str) -> Response:
    """Unsigned: the link is the credential, and every right is checked again now."""
    links = request.query_params.getlist("link")
    if len(links) != 1:
        raise Unauthenticated(reason="a download needs exactly one link parameter")
    svc = services(request)
    download = svc.links.redeem(parse_image_id(image_id), links[0])
    headers = {**_LINK_HEADERS, "Content-Disposition": content_disposition(download.image)}
    return file_response(request, download, headers, request.scope["state"]["request_id"])


def content_disposition(image: Image) -> str:
    """``attachment`` with an ASCII name (names are the tenant's text: only safe characters survive) and the
    real name in RFC 8187 form."""
    suffix = ".qcow2" if image.disk_format == "qcow2" else ""
    name = image.name[:200]
    if suffix and not name.lower().endswith(suffix):
        name += suffix
    ascii_name = _UNSAFE_IN_FILENAME.sub("_", name).strip("._") or f"{image.id}{suffix}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
