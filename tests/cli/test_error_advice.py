"""``python -m scp_images.cli image …`` as a real process: every failure says what happened and what to
do next, in the run's language (``--language``, ``SCP_LANGUAGE``), and ``create --file`` cleans up after
a refused upload."""

from __future__ import annotations

import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scp_images.client import BadRequestError
from tests.cli.conftest import clean_env, json_of, key_env, run_cli
from tests.imports.tls import make_ca
from tests.support.stack import Key, Stack, free_port

HANGUL = re.compile(r"[\uac00-\ud7a3]")
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def tls_port(tmp_path: Path) -> Iterator[int]:
    """A loopback port that speaks TLS (and then nothing): what an http:// client meets at an https server."""
    context = make_ca(tmp_path, "localhost").server_context
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1024)
                except (OSError, ssl.SSLError):
                    pass  # a plain-http client: the handshake fails, the connection closes

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = int(listener.getsockname()[1])
    yield port
    stop.set()
    socket.create_connection(("127.0.0.1", port)).close()  # wakes the accept so the loop sees stop
    thread.join(timeout=10)
    listener.close()


def _error_line(result: object) -> str:
    stderr = str(getattr(result, "stderr", ""))
    assert getattr(result, "returncode", None) != 0, stderr
    return stderr


def test_reaching_the_server_errors_name_the_next_step(
    stack: Stack, owner: Key, home: Path, tls_port: int
) -> None:
    env = key_env(stack, owner, home)
    port = stack.base_url.rsplit(":", 1)[1]

    closed = f"http://127.0.0.1:{free_port()}"
    refused = run_cli({**env, "SCP_ENDPOINT": closed}, "list")
    assert refused.returncode == 1
    assert f"cannot reach {closed}: connection refused" in refused.stderr
    assert "scp-images serve" in refused.stderr and "SCP_ENDPOINT" in refused.stderr

    https = run_cli(env, "--endpoint", f"https://127.0.0.1:{port}", "list")
    assert "speaks plain http" in _error_line(https) and f"use http://127.0.0.1:{port}" in https.stderr

    plain = run_cli(env, "--endpoint", f"http://127.0.0.1:{tls_port}", "list")
    assert "speaks https" in _error_line(plain) and f"use https://127.0.0.1:{tls_port}" in plain.stderr

    with_path = run_cli(env, "--endpoint", f"{stack.base_url}/v1", "list")
    assert "404" in _error_line(with_path)
    assert "ends in /v1" in with_path.stderr and f"drop it: use {stack.base_url}" in with_path.stderr

    wrong_secret = run_cli({**env, "SCP_SECRET_KEY": owner.secret_key + "x"}, "list")
    assert "401 virtualserver.auth.Unauthenticated" in _error_line(wrong_secret)
    assert "SCP_SECRET_KEY" in wrong_secret.stderr and "~/.scpconf/credentials.json" in wrong_secret.stderr

    missing = run_cli(clean_env(home), "list")
    assert missing.returncode == 2 and "SCP_ENDPOINT" in missing.stderr


def test_refusals_say_what_to_run_next(stack: Stack, owner: Key, home: Path) -> None:
    env = key_env(stack, owner, home)
    other = stack.new_account("other")

    url = "https://mirror.example.com/x.qcow2"
    name = run_cli(env, "create", "--name", "ubuntu-22.04", "--os-distro", "ubuntu", "--url", url)
    assert "400 virtualserver.request.Invalid" in _error_line(name)
    flat = " ".join(name.stderr.split())
    assert "a letter (A-Z, a-z), a digit, a hyphen '-', an underscore '_' or a space" in flat
    assert "^*$" not in flat and "pattern" not in flat

    with stack.client(owner) as sdk:
        image = sdk.images.create("guarded", "ubuntu", protected=True)
    protected = run_cli(env, "delete", image.id)
    flat = " ".join(_error_line(protected).split())
    assert f"scp-images image update {image.id} --no-protected" in flat

    unshared = run_cli(env, "member", "add", image.id, other.account_id)
    flat = " ".join(_error_line(unshared).split())
    assert "409 virtualserver.image.NotShared" in flat and f"scp-images image share {image.id}" in flat


def test_create_from_a_refused_file_removes_its_image_unless_kept(
    stack: Stack, owner: Key, home: Path, tmp_path: Path, make_qcow2: Callable[..., Path]
) -> None:
    env = key_env(stack, owner, home)
    not_a_disk = tmp_path / "notes.txt"
    not_a_disk.write_bytes(b"these are notes, not a disk\n" * 40_000)
    create = ["create", "--os-distro", "ubuntu", "--file", str(not_a_disk)]

    removed = run_cli(env, *create, "--name", "removed", "--protected")
    flat = " ".join(_error_line(removed).split())
    assert removed.returncode == 1 and "400 virtualserver.image.DiskImageRejected" in flat
    assert "not_qcow2" in flat and "was removed: its upload was refused" in flat
    assert json_of(run_cli(env, "list", "--json"))["images"] == []

    kept = run_cli(env, *create, "--name", "kept", "--keep-failed")
    flat = " ".join(_error_line(kept).split())
    assert "was kept" in flat and "import-status" in flat
    (left,) = json_of(run_cli(env, "list", "--json"))["images"]
    assert left["name"] == "kept" and left["status"] == "killed" and left["id"] in flat


def test_under_korean_every_kind_of_message_is_korean(
    stack: Stack, owner: Key, home: Path, tmp_path: Path
) -> None:
    env = {**key_env(stack, owner, home), "SCP_LANGUAGE": "ko-KR"}
    with stack.client(owner) as sdk:
        guarded = sdk.images.create("guarded", "ubuntu", protected=True)
        plain = sdk.images.create("plain", "ubuntu")
        killed = sdk.images.create("killed", "ubuntu")
        bad = tmp_path / "bad.qcow2"
        bad.write_bytes(b"not a qcow2" * 1000)
        with pytest.raises(BadRequestError):
            sdk.images.upload(killed.id, bad)

    api_error = run_cli(env, "delete", guarded.id)  # an error from the server
    flat = " ".join(_error_line(api_error).split())
    assert flat.startswith("오류: 409 virtualserver.image.Protected")
    assert "보호되어 있어 삭제할 수 없습니다" in flat and "--no-protected" in flat

    unreachable = run_cli({**env, "SCP_ENDPOINT": f"http://127.0.0.1:{free_port()}"}, "list")
    assert "연결이 거부되었습니다" in _error_line(unreachable) and "SCP_ENDPOINT" in unreachable.stderr

    done = run_cli(env, "delete", plain.id)  # a done line of our own
    assert done.returncode == 0 and plain.id in done.stdout and HANGUL.search(done.stdout)

    reason = json_of(run_cli(env, "import-status", killed.id, "--json"))["reason"]
    assert reason.startswith("not_qcow2: ") and HANGUL.search(reason)
    waited = run_cli(env, "wait", killed.id, "--timeout", "5", "--interval", "0.1")
    assert "not_qcow2: " in _error_line(waited) and HANGUL.search(waited.stderr)

    flag = run_cli({**env, "SCP_LANGUAGE": "en-US"}, "--language", "ko-KR", "delete", guarded.id)
    assert "오류:" in _error_line(flag)
    english = run_cli({**env, "SCP_LANGUAGE": "en-US"}, "delete", guarded.id)
    assert "error:" in _error_line(english) and not HANGUL.search(english.stderr)
