"""docs/operator/install.md, followed: the wheel is built from a copy of the checkout (``python -m build
--wheel``), installed non-editable into a fresh virtual environment with the server extra, and run by the
systemd units' own ``ExecStart`` commands (two servers, one worker) with the documented environment file,
on a PostgreSQL role and database of their own and a bucket on SeaweedFS, behind the documented nginx
config. The first account and key are made with the guide's ``scp_admin`` function, and the CLI from the
virtual environment creates an image from a file through nginx, lists it and downloads it.

What cannot run here is replaced, and only that: paths under ``/opt``, ``/etc`` and ``/var/lib`` point into
a temporary folder, ``sudo -u scp-images`` runs as the test's own user, ``%i`` is the instance name systemd
would pass, and nginx listens on plain HTTP on loopback (the TLS site file is checked by ``nginx -t`` in
tests/cluster/test_deploy.py).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import make_url

from tests.support import postgres
from tests.support.nginx import Nginx, nginx_binary
from tests.support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, s3_client
from tests.support.stack import free_port
from tests.support.tools import REPOSITORY, missing, require_tool, run_tool, wait_until

pytestmark = pytest.mark.postgres

GUIDE = REPOSITORY / "docs" / "operator" / "install.md"
UNITS = REPOSITORY / "deploy" / "systemd"
ENV_EXAMPLE = REPOSITORY / "deploy" / "scp-images.env.example"
INSTALLED = "/opt/scp-images"  # where the guide links the release's virtual environment
STEP_SECONDS = 600  # building and installing fetch from PyPI (pip's cache makes it quick the second time)
READY_SECONDS = 60.0
# What the package must carry besides its modules: the console and the migrations (package-data).
PACKAGE_DATA = ("console/static", "store/sql/migrations")


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=STEP_SECONDS, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done  # type: ignore[no-any-return]


def _plain_environment(home: Path) -> dict[str, str]:
    """What a unit or an operator's shell has: no PYTHONPATH (the package must come from the wheel) and
    nothing of this test run's scp-images settings."""
    keep = (
        "PATH",
        "LANG",
        "LC_ALL",
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_CONFIG_FILE",
        "PIP_CACHE_DIR",
    )
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(HOME=str(home), TMPDIR=str(home), PIP_DISABLE_PIP_VERSION_CHECK="1")
    # pip's cache stays the user's own, so the second run installs from it.
    env.setdefault("PIP_CACHE_DIR", str(Path(os.environ.get("HOME", "/root")) / ".cache" / "pip"))
    return env


# --- 1-3: the wheel and the virtual environment ------------------------------------------------------


def build_wheel(workdir: Path, home: Path) -> Path:
    """``python -m build --wheel`` in a copy of the checkout (the checkout itself is left as it is)."""
    source = workdir / "checkout"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPOSITORY / name, source / name)
    shutil.copytree(
        REPOSITORY / "src",
        source / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"),
    )
    _run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(workdir / "dist"), str(source)],
        env={**_plain_environment(home), "PATH": os.environ["PATH"]},
    )
    (wheel,) = (workdir / "dist").glob("scp_images-*-py3-none-any.whl")
    return wheel


def install_release(wheel: Path, opt: Path, home: Path) -> Path:
    """Step 3: a virtual environment per release, the wheel with the server extra, the link in use."""
    version = wheel.name.split("-")[1]
    release = opt / f"scp-images-{version}"
    # The guide runs the venv's own pip; here the test's pip installs into the venv (``--python``), which
    # spares a copy of pip per run, and without byte-compiling everything (imports compile what they use).
    _run([sys.executable, "-m", "venv", "--without-pip", str(release)], env=_plain_environment(home))
    python = str(release / "bin" / "python")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "-q",
            "--no-compile",
            f"{wheel}[server]",
        ],
        env=_plain_environment(home),
    )
    shutil.copytree(REPOSITORY / "deploy", release / "deploy")
    link = opt / "scp-images"
    link.symlink_to(release)
    return link


def assert_package_data_installed(venv: Path, home: Path) -> None:
    """The installed package is the wheel's (not this checkout's), and carries every console file and
    every migration of the checkout."""
    done = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import os, scp_images; print(os.path.dirname(scp_images.__file__))",
        ],
        env=_plain_environment(home),
        cwd=home,
    )
    installed = Path(done.stdout.strip())
    assert installed.resolve().is_relative_to(venv.resolve()), f"scp_images imported from {installed}"
    package = REPOSITORY / "src" / "scp_images"
    for folder in PACKAGE_DATA:
        wanted = [
            path.relative_to(package)
            for path in (package / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        ]
        assert wanted, f"{folder} has no files in the checkout"
        absent = [str(path) for path in wanted if not (installed / path).is_file()]
        assert not absent, f"the wheel does not carry {absent}: add them to package-data in pyproject.toml"


# --- 4-6: PostgreSQL, the bucket, the environment file -------------------------------------------------


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def role_and_database() -> Iterator[str]:
    """Step 4: a login role with a password and a database it owns; the URL the env file names."""
    problem = postgres.reachable()
    if problem is not None:
        missing(
            f"PostgreSQL at {postgres.admin_url()} is not reachable ({problem})", required=postgres.required()
        )
    name = f"scp_images_install_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    with psycopg.connect(_libpq(postgres.admin_url()), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
        conn.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
    admin = make_url(postgres.admin_url())
    url = admin.set(username=name, password=password, database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with psycopg.connect(_libpq(postgres.admin_url()), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def environment_file(path: Path, settings: dict[str, str]) -> dict[str, str]:
    """Step 6: the example with the settings the guide says to set; returns what a unit reads from it."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    named = {line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z0-9_]+=", line)}
    assert set(settings) <= named, f"the example no longer sets {set(settings) - named}"
    written = [
        f"{line.split('=', 1)[0]}={settings[line.split('=', 1)[0]]}"
        if re.match(r"^[A-Z0-9_]+=", line) and line.split("=", 1)[0] in settings
        else line
        for line in lines
    ]
    path.write_text("\n".join(written) + "\n")
    path.chmod(0o640)
    # systemd's EnvironmentFile=: KEY=VALUE lines, comments and blank lines ignored.
    return dict(
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )


# --- 7: the guide's scp_admin ---------------------------------------------------------------------------


def scp_admin_function(root: Path) -> str:
    """The guide's ``scp_admin`` shell function, pointed at the temporary host."""
    text = GUIDE.read_text()
    found = re.search(r"^scp_admin\(\) \{\n.*?^\}$", text, re.MULTILINE | re.DOTALL)
    assert found, "install.md no longer defines scp_admin"
    function = found.group(0)
    for written, here in (
        ("sudo -u scp-images ", ""),
        ("/etc/scp-images/", f"{root}/etc/scp-images/"),
        (INSTALLED + "/", f"{root}/opt/scp-images/"),
        ("/var/lib/scp-images", f"{root}/var/lib/scp-images"),
    ):
        assert written in function, f"scp_admin no longer uses {written}"
        function = function.replace(written, here)
    return function


def scp_admin(root: Path, home: Path, *args: str) -> dict[str, object]:
    script = f"{scp_admin_function(root)}\nscp_admin {shlex.join(args)}\n"
    done = _run(["bash", "-c", script], env=_plain_environment(home))
    result: dict[str, object] = json.loads(done.stdout)
    return result


# --- 8: the units ---------------------------------------------------------------------------------------


def exec_start(unit: str, venv_link: Path, instance: str) -> list[str]:
    text = (UNITS / unit).read_text()
    (line,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    command = line.removeprefix("ExecStart=")
    assert command.startswith(f"{INSTALLED}/bin/scp-images "), f"{unit} runs {command}"
    return shlex.split(command.replace(INSTALLED, str(venv_link)).replace("%i", instance))


@dataclass
class Unit:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def why_not(self) -> str | None:
        code = self.proc.poll()
        return None if code is None else f"{self.name} exited with {code}: {self.tail()}"

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_unit(name: str, command: list[str], env: dict[str, str], workdir: Path, logs: Path) -> Unit:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    return Unit(name, proc, log)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# --- the test -------------------------------------------------------------------------------------------


def test_the_install_guide_works_from_a_wheel(tmp_path: Path, s3_endpoint: str) -> None:
    require_tool("qemu-img", hint="install Debian's qemu-utils (make test-deps)")
    if importlib.util.find_spec("build") is None:
        missing("the `build` package is not installed: pip install -e '.[test]' (make deps does)")
    nginx = nginx_binary() or missing("nginx not found: install Debian's nginx (apt-get install nginx)")
    root = tmp_path / "host"
    home = root / "root"
    for folder in ("root", "opt", "etc/scp-images", "var/lib/scp-images", "logs"):
        (root / folder).mkdir(parents=True)

    wheel = build_wheel(tmp_path, home)
    venv = install_release(wheel, root / "opt", home)
    assert_package_data_installed(venv, home)

    bucket = f"scp-images-{uuid.uuid4().hex[:8]}"
    s3 = s3_client(s3_endpoint)
    s3.create_bucket(Bucket=bucket)
    public = f"http://127.0.0.1:{free_port()}"  # nginx's, as clients sign it
    with role_and_database() as database_url:
        unit_env = environment_file(
            root / "etc" / "scp-images" / "scp-images.env",
            {
                "SCP_IMAGES_DATABASE_URL": database_url,
                "SCP_IMAGES_BLOB_URL": f"s3://{bucket}/prod",
                "SCP_IMAGES_S3_ENDPOINT_URL": s3_endpoint,
                "SCP_IMAGES_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "SCP_IMAGES_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
                "SCP_IMAGES_S3_REGION": REGION,
                "SCP_IMAGES_PUBLIC_URLS": public,
                "SCP_IMAGES_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            },
        )
        assert unit_env["SCP_IMAGES_RUN_IMPORT_JOBS"] == "0"  # imports are the worker's
        account = scp_admin(root, home, "account", "create", "--name", "platform-team", "--json")
        key = scp_admin(
            root,
            home,
            "key",
            "create",
            "--account",
            str(account["id"]),
            "--user",
            "alice@example.com",
            "--json",
        )
        _serve_and_use(root, home, venv, nginx, public, unit_env, key, s3, bucket)


def _serve_and_use(
    root: Path,
    home: Path,
    venv: Path,
    nginx_path: str,
    public: str,
    unit_env: dict[str, str],
    key: dict[str, object],
    s3: object,
    bucket: str,
) -> None:
    env = {**_plain_environment(home), **unit_env}
    workdir, logs = root / "var" / "lib" / "scp-images", root / "logs"
    ports = [free_port()]
    while len(ports) < 2:
        ports = sorted({*ports, free_port()})
    units = [
        start_unit(
            f"serve@{port}", exec_start("scp-images-serve@.service", venv, str(port)), env, workdir, logs
        )
        for port in ports
    ]
    units.append(
        start_unit("worker@1", exec_start("scp-images-worker@.service", venv, "1"), env, workdir, logs)
    )
    proxy = None
    try:
        for unit, port in zip(units, ports, strict=False):
            wait_until(
                lambda port=port: _answers(f"http://127.0.0.1:{port}/healthz"),  # type: ignore[misc]
                what=unit.name,
                timeout=READY_SECONDS,
                alive=unit.why_not,
            )
        proxy = Nginx(nginx_path, [f"127.0.0.1:{port}" for port in ports], port=int(public.rsplit(":", 1)[1]))
        _check_through(proxy.base_url, root, home, venv, key, s3, bucket)
        for unit in units:
            assert unit.why_not() is None
    finally:
        if proxy is not None:
            proxy.stop()
        for unit in units:
            unit.stop()


def _check_through(
    base_url: str, root: Path, home: Path, venv: Path, key: dict[str, object], s3: object, bucket: str
) -> None:
    """Step 10: the checks, through nginx, with the CLI of the installed release."""
    assert httpx.get(f"{base_url}/healthz", timeout=10).status_code == 200
    ready = httpx.get(f"{base_url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    console = httpx.get(f"{base_url}/console", timeout=10, follow_redirects=True)
    assert console.status_code == 200 and "<html" in console.text.lower()  # the wheel's static files

    work = root / "client"
    work.mkdir()
    run_tool("qemu-img", "create", "-f", "qcow2", str(work / "disk.qcow2"), "64M")
    cli_env = {
        **_plain_environment(home),
        "SCP_ENDPOINT": base_url,
        "SCP_ACCESS_KEY": str(key["access_key"]),
        "SCP_SECRET_KEY": str(key["secret_key"]),
    }
    cli = str(venv / "bin" / "scp-images")
    made = _run(
        [
            cli,
            "image",
            "create",
            "--name",
            "smoke-test",
            "--os-distro",
            "ubuntu",
            "--file",
            "disk.qcow2",
            "--json",
        ],
        env=cli_env,
        cwd=work,
    )
    image = json.loads(made.stdout)
    assert image["status"] == "active"
    listed = _run([cli, "image", "list", "--json"], env=cli_env, cwd=work)
    assert image["id"] in {each["id"] for each in json.loads(listed.stdout)["images"]}
    _run([cli, "image", "download", image["id"], "-o", "copy.qcow2"], env=cli_env, cwd=work)
    assert (work / "copy.qcow2").read_bytes() == (work / "disk.qcow2").read_bytes()

    # An import from the object store is the worker's job (the servers run none): it ends active. The
    # source is another bucket (the blob store's own can never be granted).
    source = f"{bucket}-sources"
    s3.create_bucket(Bucket=source)  # type: ignore[attr-defined]
    s3.upload_file(str(work / "disk.qcow2"), source, "team/disk.qcow2")  # type: ignore[attr-defined]
    scp_admin(root, home, "source", "grant", "--account", str(key["account_id"]), "--bucket", source,
              "--prefix", "team", "--json")  # fmt: skip
    imported = _run(
        [cli, "image", "create", "--name", "imported", "--os-distro", "ubuntu",
         "--url", f"s3://{source}/team/disk.qcow2", "--wait", "--timeout", "120", "--json"],
        env=cli_env,
        cwd=work,
    )  # fmt: skip
    assert json.loads(imported.stdout)["status"] == "active"
