"""nginx (Debian's package) in front of test servers, run with the documented deploy/ config.

nginx runs unprivileged in the foreground (``daemon off``) with its prefix, pid, logs and temp dirs in a
directory of its own. The generated top-level config holds only what a test must choose (the port, the
upstream servers, the file locations) and ``include``s ``deploy/nginx/scp-images-proxy.conf`` as it is;
the upstream block is ``deploy/nginx/scp-images-upstream.conf`` with its ``server`` lines replaced. So the
configuration the docs point operators at is the one the cluster test runs through.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import httpx

from tests.support.stack import free_port
from tests.support.tools import REPOSITORY, wait_until

DEPLOY = REPOSITORY / "deploy" / "nginx"
PROXY_CONF = DEPLOY / "scp-images-proxy.conf"
UPSTREAM_CONF = DEPLOY / "scp-images-upstream.conf"
READY_SECONDS = 30.0
PORT_ATTEMPTS = 3
_SERVER_LINE = re.compile(r"^[ \t]*server[ \t]+[^ \t;]+(?P<options>[^;\n]*);[^\n]*\n", re.MULTILINE)
_UPSTREAM_OPEN = re.compile(r"^upstream\s+scp_images\s*\{\n", re.MULTILINE)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def upstream_block(servers: Sequence[str], template: str | None = None) -> str:
    """The deploy upstream block with its ``server`` lines replaced by ``servers`` (``host:port``), each
    with the options the documented lines give (``max_fails``, ``fail_timeout``)."""
    text = template if template is not None else UPSTREAM_CONF.read_text()
    first = _SERVER_LINE.search(text)
    if not _UPSTREAM_OPEN.search(text) or first is None:
        raise ValueError(f"{UPSTREAM_CONF} no longer has an `upstream scp_images` block with server lines")
    options = first.group("options")
    lines = "".join(f"    server {server}{options};\n" for server in servers)
    text = _SERVER_LINE.sub("", text)
    return _UPSTREAM_OPEN.sub(lambda m: m.group(0) + lines, text, count=1)


def top_level_config(root: Path, port: int, servers: Sequence[str]) -> str:
    temp = {name: root / "temp" / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    return f"""\
worker_processes 1;
pid {root / "nginx.pid"};
error_log {root / "logs" / "error.log"} info;
events {{ worker_connections 1024; }}
http {{
    access_log {root / "logs" / "access.log"};
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};

{upstream_block(servers)}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        include {PROXY_CONF};
    }}
}}
"""


class Nginx:
    """nginx on ``port`` (else a free loopback port) in front of ``servers`` (``host:port``); returns once
    it proxies ``/healthz``."""

    def __init__(self, binary: str, servers: Sequence[str], port: int | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="scp-nginx-"))
        # Started as root, nginx's worker runs as nobody and must reach the temp dirs nginx makes here.
        self.root.chmod(0o755)
        for sub in ("logs", "temp", "conf"):
            (self.root / sub).mkdir()
        self.binary = binary
        self.conf = self.root / "conf" / "nginx.conf"
        self.proc: subprocess.Popen[bytes] | None = None
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port = port or free_port()
            self.base_url = f"http://127.0.0.1:{self.port}"
            self.conf.write_text(top_level_config(self.root, self.port, servers))
            try:
                self._start()
                return
            except RuntimeError:
                retry = port is None and "Address already in use" in self.error_log()
                if attempt == PORT_ATTEMPTS or not retry:
                    self.stop()
                    raise

    def _command(self, *extra: str) -> list[str]:
        error_log = str(self.root / "logs" / "error.log")
        return [self.binary, "-p", str(self.root), "-e", error_log, "-c", str(self.conf), *extra]

    def check(self) -> subprocess.CompletedProcess[str]:
        """``nginx -t`` on the generated config."""
        return subprocess.run(self._command("-t"), capture_output=True, text=True, timeout=30)

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            self._command("-g", "daemon off;"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(self._proxies, what="nginx", timeout=READY_SECONDS, alive=self._exited)
        except Exception as exc:
            self._end()
            raise RuntimeError(f"{exc}; its error log:\n{self.error_log()}") from exc

    def _proxies(self) -> bool:
        try:
            return httpx.get(self.base_url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _exited(self) -> str | None:
        code = self.proc.poll() if self.proc else None
        return None if code is None else f"exited with {code}"

    def error_log(self) -> str:
        path = self.root / "logs" / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(none)"

    def access_log(self) -> str:
        path = self.root / "logs" / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _end(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def stop(self) -> None:
        self._end()
        shutil.rmtree(self.root, ignore_errors=True)
