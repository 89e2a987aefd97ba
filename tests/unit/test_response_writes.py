"""``serve``'s HTTP protocol writes a response's head and body to the socket in one call (uvicorn writes
each with its own), with the same bytes, and never holds a head while the app waits for its body."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from scp_images.cli.uvicorn_server import BoundedHttpToolsProtocol

App = Callable[[Any, Any, Any], Awaitable[None]]
BODY = b'{"id":"0b1c","name":"ubuntu"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


class RecordingTransport(asyncio.Transport):
    """What the protocol asks of its transport, in order: ("write", bytes) per system call it would make
    (``writelines`` is one ``writev``), and ("close", b"")."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, list_of_data: Any) -> None:
        self.calls.append(("write", b"".join(list_of_data)))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", b""))

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 40000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    @property
    def sent(self) -> bytes:
        return b"".join(data for kind, data in self.calls if kind == "write")


async def _exchange(protocol_class: type[HttpToolsProtocol], app: App, request: bytes) -> RecordingTransport:
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    config.load()
    state = ServerState()
    protocol = protocol_class(config, state, {}, asyncio.get_running_loop())
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(200):
        if not state.tasks:
            break
        await asyncio.sleep(0.005)
    await asyncio.sleep(0)  # a release scheduled for the loop's next turn
    answered = list(transport.calls)
    protocol.connection_lost(None)  # the client leaves (the protocol closes its side: not counted)
    transport.calls = answered
    return transport


def _run(protocol_class: type[HttpToolsProtocol], app: App, request: bytes) -> RecordingTransport:
    return asyncio.run(_exchange(protocol_class, app, request))


async def show(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


GET = b"GET /v1/images/0b1c HTTP/1.1\r\nHost: example\r\n\r\n"


def _without_date(data: bytes) -> bytes:
    return b"\r\n".join(line for line in data.split(b"\r\n") if not line.startswith(b"date: "))


def test_head_and_body_go_out_in_one_write_with_uvicorns_bytes() -> None:
    ours = _run(BoundedHttpToolsProtocol, show, GET)
    theirs = _run(HttpToolsProtocol, show, GET)
    assert [kind for kind, _ in ours.calls] == ["write"]
    assert ours.sent.startswith(b"HTTP/1.1 200 OK\r\n") and ours.sent.endswith(b"\r\n\r\n" + BODY)
    assert [kind for kind, _ in theirs.calls] == ["write", "write"]  # what the one write replaces
    assert _without_date(ours.sent) == _without_date(theirs.sent)


def test_connection_close_writes_then_closes() -> None:
    request = GET.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    ours = _run(BoundedHttpToolsProtocol, show, request)
    assert [kind for kind, _ in ours.calls] == ["write", "close"]
    assert b"\r\nconnection: close\r\n" in ours.sent and ours.sent.endswith(BODY)


def test_pipelined_requests_get_their_answers_in_order() -> None:
    async def echo_path(scope: Any, receive: Any, send: Any) -> None:
        body = scope["path"].encode()
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    first, second = (GET.replace(b"/v1/images/0b1c", path) for path in (b"/first", b"/second"))
    ours = _run(BoundedHttpToolsProtocol, echo_path, first + second)
    assert [kind for kind, _ in ours.calls] == ["write", "write"]
    assert ours.calls[0][1].endswith(b"\r\n\r\n/first") and ours.calls[1][1].endswith(b"\r\n\r\n/second")


def test_a_head_is_not_held_while_the_app_waits_for_its_body() -> None:
    head_seen_before_body: list[bool] = []

    async def slow_stream(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await asyncio.sleep(0.05)  # e.g. the first chunk of a download from S3
        head_seen_before_body.append(transport_now().sent.startswith(b"HTTP/1.1 200 OK"))
        await send({"type": "http.response.body", "body": b"da", "more_body": True})
        await send({"type": "http.response.body", "body": b"ta"})

    transports: list[RecordingTransport] = []

    class Recorded(BoundedHttpToolsProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transports.append(transport)  # type: ignore[arg-type]
            super().connection_made(transport)  # type: ignore[arg-type]

    def transport_now() -> RecordingTransport:
        return transports[0]

    ours = _run(Recorded, slow_stream, GET)
    assert head_seen_before_body == [True]
    assert ours.sent.endswith(b"\r\n\r\ndata")
    assert [kind for kind, _ in ours.calls] == ["write", "write", "write"]


@pytest.mark.parametrize("fails_after_start", [True, False])
def test_an_app_failing_mid_response_still_gets_its_head_out_then_the_connection_closed(
    fails_after_start: bool,
) -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        if fails_after_start:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        raise RuntimeError("boom")

    ours = _run(BoundedHttpToolsProtocol, failing, GET)
    theirs = _run(HttpToolsProtocol, failing, GET)
    assert _without_date(ours.sent) == _without_date(theirs.sent)
    assert ours.calls[-1] == ("close", b"")
    assert ours.sent.startswith(b"HTTP/1.1 200 OK" if fails_after_start else b"HTTP/1.1 500")


def test_answers_leave_no_reference_cycles_behind() -> None:
    """Each answered request's objects are freed by reference counting: garbage left for the cyclic
    collector would grow with the requests, and its collections are pauses every request waits for."""

    def garbage_after(requests: int) -> int:
        gc.collect()
        gc.disable()
        try:
            _run(BoundedHttpToolsProtocol, show, GET * requests)
            return gc.collect()
        finally:
            gc.enable()

    assert garbage_after(50) == garbage_after(1)
