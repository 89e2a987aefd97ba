"""The floor: a bare ASGI app answering every request with fixed bytes (by default those of a real Show
response), served by the same server stack as ``scp-images serve``, or by granian for the server A/B.

    python bench/floor_app.py --port P [--workers N] [--server uvicorn|granian] [--body FILE]

With ``--server uvicorn`` (the default) it runs through ``scp_images.cli.uvicorn_server`` with
``server_options``, exactly as ``serve`` does: one socket bound first, uvicorn with httptools, uvloop and
the bounded-head protocol, ``Multiprocess`` for ``--workers N``. Only the app differs. Headers: the three
a Show carries besides the server's own (content-type, content-length, x-request-id)."""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

BODY_FILE = "SCP_IMAGES_FLOOR_BODY"  # passed down to --workers processes through the environment
DEFAULT_BODY = b'{"status":"ok"}'
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def make_app() -> Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Any
]:
    """The app factory (each worker process calls it): the body is read once, the headers built once."""
    path = os.environ.get(BODY_FILE)
    body = Path(path).read_bytes() if path else DEFAULT_BODY
    request_id = str(uuid.uuid4()).encode()  # as long as ours; a fixed one, since the floor does no work
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id),
        ],
    }
    done = {"type": "http.response.body", "body": body}

    async def app(
        scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send(start)
        await send(done)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    parser.add_argument("--body", help="file whose bytes are the response body")
    args = parser.parse_args()
    if args.body:
        os.environ[BODY_FILE] = str(Path(args.body).resolve())
    if args.server == "granian":
        os.execvp(
            sys.executable,
            [
                sys.executable,
                "-m",
                "granian",
                *granian_args(args.host, args.port, args.workers),
                "floor_app:make_app",
            ],
        )
    from scp_images.cli import uvicorn_server

    sock = uvicorn_server.listen(args.host, args.port)
    options = uvicorn_server.server_options(args.host, args.port, graceful_seconds=5)
    if args.workers == 1:
        uvicorn_server.serve_one(make_app(), sock, **options)
    else:
        uvicorn_server.serve_many("floor_app:make_app", args.workers, sock, **options)


def granian_args(host: str, port: int, workers: int) -> list[str]:
    """granian's best HTTP/1.1 settings for this: ASGI, HTTP/1 only, no websockets, uvloop, one runtime
    thread per process (the app is single-threaded Python), uvicorn's backlog, no access log."""
    return [
        "--interface", "asgi", "--factory", "--host", host, "--port", str(port), "--workers", str(workers),
        "--http", "1", "--no-ws", "--loop", "uvloop", "--runtime-mode", "st", "--backlog", "2048",
        "--log-level", "warning",
    ]  # fmt: skip


if __name__ == "__main__":
    main()
