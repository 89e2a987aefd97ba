"""A download holds its transfer slot while its body is sent and gives it back when the client goes away
mid-body: the next download is served, not refused with 503 forever."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from scp_images.config import Settings
from scp_images.signing import sign_request
from tests.api.helpers import publish
from tests.support.stack import Key, Stack, start_stack
from tests.support.tools import run_tool, wait_until


def _start_download(stack: Stack, key: Key, image_id: str) -> socket.socket:
    """A GET sent by hand whose client then reads only the head: the body stalls in the socket."""
    url = f"{stack.base_url}/v2/images/{image_id}/file"
    parts = urlsplit(url)
    headers = sign_request("GET", url, key.access_key, key.secret_key).as_dict()
    lines = [f"GET {parts.path} HTTP/1.1", f"Host: {parts.netloc}", "Scp-Api-Version: virtualserver 1.3"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return sock


def test_a_download_cut_off_mid_body_gives_its_slot_back(
    tmp_path: Path, make_qcow2: Callable[..., Path]
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'meta.db'}", max_transfers=1
    )
    stack = start_stack(settings)
    try:
        path = make_qcow2("big.qcow2", "64M", data=False)
        run_tool("qemu-io", "-c", "write -P 0x11 0 40M", str(path))  # far more than socket buffers hold
        owner = stack.new_account("owner")
        image_id = str(publish(stack, path, owner.account_id)["id"])
        sock = _start_download(stack, owner, image_id)
        # The one slot is taken while the body is under way.
        refused = stack.request("GET", f"/v2/images/{image_id}/file", owner)
        assert refused.status_code == 503, refused.text
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # a reset: the client is gone

        def served() -> bool:
            return stack.request("GET", f"/v2/images/{image_id}/file", owner).status_code == 200

        wait_until(served, what="the slot to be given back", timeout=30)
        whole = stack.request("GET", f"/v2/images/{image_id}/file", owner)
        assert whole.content == path.read_bytes()
    finally:
        stack.stop()
