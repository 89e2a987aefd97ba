"""Images in the states the console tests need, made through the API."""

from __future__ import annotations

from typing import Any

from tests.support.stack import Key, Stack


def killed_upload(stack: Stack, key: Key, name: str) -> dict[str, Any]:
    """An image whose uploaded data the server refused (not a disk): killed, with a reason."""
    body = {"name": name, "os_distro": "ubuntu"}
    image = stack.request("POST", "/v1/images", key, params={"source": "upload"}, json=body).json()
    sent = stack.request(
        "PUT",
        f"/v2/images/{image['id']}/file",
        key,
        content=b"this is not a disk image\n" * 4000,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert sent.status_code >= 400
    shown = stack.request("GET", f"/v1/images/{image['id']}", key).json()
    assert shown["status"] == "killed"
    return shown
