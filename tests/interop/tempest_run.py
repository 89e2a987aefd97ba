"""Tempest's image suite against a live server: the credentials, the configuration, the run, the verdict.

A test (``test_tempest_*.py``) starts the server, an https mirror with a throw-away CA for the
web-download tests, and calls ``run_suite``. Tempest runs in its own virtual environment
(``tempest_venv``) in a workspace made by ``tempest init`` in a temporary directory, with
pre-provisioned credentials this module writes (``accounts.yaml``) and a ``tempest.conf`` for what we
serve. Its subunit stream is read by ``subunit_results.py`` (run by the venv's Python) into one record
per test; ``Verdict`` sorts them into passed, failed, allowed skips and skips that are not allowed
(``tempest_allowed_skips.txt``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.interop import tempest_venv

HERE = Path(__file__).resolve().parent
ALLOWED_SKIPS = HERE / "tempest_allowed_skips.txt"
PARSER = HERE / "subunit_results.py"
IMAGE_SUITE = r"^tempest\.api\.image"
LIST_USER_IMAGES = r"^tempest\.api\.image\.v2\.test_images\.ListUserImagesTest"
# A whole image suite run takes 2-4 minutes on a two-core machine; past this it has hung.
RUN_SECONDS = 600.0
WIDTH = 80


@dataclass(frozen=True)
class Credential:
    """One entry of accounts.yaml: the password method's user name is the access key."""

    access_key: str
    secret_key: str
    project: str
    role: str

    def entry(self) -> dict[str, object]:
        return {
            "username": self.access_key,
            "password": self.secret_key,
            "project_name": self.project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
            "roles": [self.role],
        }


@dataclass(frozen=True)
class Target:
    """What Tempest is pointed at."""

    base_url: str  # the server, e.g. http://127.0.0.1:PORT
    region: str
    http_image: str  # an https URL of a small qcow2 the server may import (allowlisted, trusted CA)
    credentials: tuple[Credential, ...]


@dataclass(frozen=True)
class Result:
    id: str
    status: str
    reason: str = ""
    traceback: str = ""

    @property
    def short_id(self) -> str:
        return self.id.replace("tempest.api.image.", "")

    def first_error_line(self) -> str:
        """The exception line of the (last) traceback: the first unindented line after 'Traceback'."""
        lines = self.traceback.splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
        for line in lines[starts[-1] + 1 if starts else 0 :]:
            if line.strip() and not line.startswith((" ", "\t")):
                return line.strip()
        return next((line.strip() for line in lines if line.strip()), self.status)

    def details_line(self) -> str:
        """Tempest's ``Details: {...}``: the body of the error answer that failed the test."""
        details = next((line for line in self.traceback.splitlines() if line.startswith("Details:")), "")
        message = re.search(r"'(?:message|detail)': (['\"])(.*?)\1[,}]", details)
        code = re.search(r"'code': (\d+)", details)
        if message:
            return f"Details: {code[1] + ' ' if code else ''}{message[2]}"
        return details.strip()

    @property
    def log_name(self) -> str:
        """How Tempest's log names the test in its request lines: ``Class:method`` or
        ``Class:setUpClass``."""
        class_level = re.match(r"(setUpClass|tearDownClass) \((.+)\)$", self.id)
        if class_level:
            return f"{class_level[2].rsplit('.', 1)[1]}:{class_level[1]}"
        parts = self.id.rsplit(".", 2)
        return f"{parts[-2]}:{parts[-1]}" if len(parts) == 3 else self.id


_REQUEST = re.compile(r"Request \(([^)]+)\): (\d{3}) (\w+) (\S+)")


def refused_requests(log: Path) -> dict[str, str]:
    """Per test (``Class:method``), the last request Tempest's log shows answered 4xx or 5xx, as
    ``STATUS METHOD PATH``: what the server refused before the test failed."""
    refused: dict[str, str] = {}
    if not log.exists():
        return refused
    for line in log.read_text(errors="replace").splitlines():
        found = _REQUEST.search(line)
        if found and int(found[2]) >= 400:
            path = re.sub(r"^https?://[^/]+", "", found[4])
            refused[found[1]] = f"{found[2]} {found[3]} {path}"
    return refused


def allowed_skip_patterns(path: Path = ALLOWED_SKIPS) -> list[re.Pattern[str]]:
    patterns = []
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if text:
            patterns.append(re.compile(text))
    return patterns


@dataclass
class Verdict:
    name: str
    results: list[Result]
    seconds: float
    refused: dict[str, str] = field(default_factory=dict)
    patterns: list[re.Pattern[str]] = field(default_factory=allowed_skip_patterns)

    def with_status(self, *statuses: str) -> list[Result]:
        return [r for r in self.results if r.status in statuses]

    @property
    def passed(self) -> list[Result]:
        return self.with_status("success")

    @property
    def failed(self) -> list[Result]:
        return self.with_status("fail", "uxsuccess")

    @property
    def skipped(self) -> list[Result]:
        return self.with_status("skip")

    def allowed(self, result: Result) -> bool:
        return any(pattern.search(result.reason) for pattern in self.patterns)

    @property
    def unallowed_skips(self) -> list[Result]:
        return [r for r in self.skipped if not self.allowed(r)]

    @property
    def ok(self) -> bool:
        return bool(self.results) and not self.failed and not self.unallowed_skips

    def summary(self) -> str:
        counts = (
            f"{self.name}: {len(self.passed)} passed, {len(self.failed)} failed, "
            f"{len(self.skipped)} skipped ({len(self.unallowed_skips)} not allowed) "
            f"in {self.seconds:.0f} s"
        )
        lines = [counts]
        if self.failed:
            lines.append("FAILED:")
        for result in self.failed:
            lines.append(f"  {result.short_id}")
            lines.append(_indent(result.first_error_line()))
            for extra in (result.details_line(), self.refused.get(result.log_name, "")):
                if extra:
                    lines.append(_indent(extra))
        for title, results in (
            ("SKIPPED, reason not allowed:", self.unallowed_skips),
            ("skipped (allowed):", [r for r in self.skipped if self.allowed(r)]),
        ):
            lines += [title] if results else []
            for result in results:
                lines += [f"  {result.short_id}", _indent(result.reason or "(no reason given)")]
        return "\n".join(lines)


def _indent(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return "    " + textwrap.shorten(first, WIDTH - 4, placeholder="…")


def config_text(
    target: Target, workspace: Path, name: str, *, disk_formats: str, enforce_formats: bool
) -> str:
    """tempest.conf for our server: pre-provisioned credentials, only the image service, the image
    features we have (import methods from /v2/info/import, no locations, no cache, one store)."""
    return textwrap.dedent(
        f"""\
        [DEFAULT]
        log_dir = {workspace / "logs"}
        log_file = {name}.log
        debug = true

        [oslo_concurrency]
        lock_path = {workspace / "lock"}

        [auth]
        use_dynamic_credentials = false
        test_accounts_file = {workspace / "etc" / "accounts.yaml"}
        admin_role = admin

        [identity]
        auth_version = v3
        uri_v3 = {target.base_url}/identity/v3
        region = {target.region}

        [identity-feature-enabled]
        api_v2 = false

        [service_available]
        glance = true
        nova = false
        cinder = false
        neutron = false
        swift = false

        [image]
        region = {target.region}
        container_formats = bare
        disk_formats = {disk_formats}
        http_image = {target.http_image}
        http_qcow2_image = {target.http_image}
        build_timeout = 90
        build_interval = 1
        image_caching_enabled = false

        [image-feature-enabled]
        import_image = true
        os_glance_reserved = true
        manage_locations = false
        image_conversion = false
        image_format_enforcement = {str(enforce_formats).lower()}
        do_secure_hash = true
        http_store_enabled = false
        store_weight_enabled = false

        [validation]
        run_validation = false
        """
    )


def _env(workspace: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "PYTHON", "VIRTUAL_ENV"))}
    env["HOME"] = str(workspace)  # tempest init and stestr write nothing outside the workspace
    env["PATH"] = f"{tempest_venv.executable('python').parent}:{env.get('PATH', '')}"
    return env


def make_workspace(root: Path) -> Path:
    workspace = root / "tempest"
    tempest = str(tempest_venv.executable("tempest"))
    subprocess.run(
        [tempest, "init", "--workspace-path", str(root / "workspaces.yaml"), str(workspace)],
        check=True,
        capture_output=True,
        env=_env(root),
        timeout=120,
    )
    return workspace


def write_accounts(workspace: Path, credentials: Iterable[Credential]) -> None:
    entries = [c.entry() for c in credentials]
    (workspace / "etc" / "accounts.yaml").write_text(yaml.safe_dump(entries, sort_keys=False))


def read_results(subunit: bytes) -> list[Result]:
    parsed = subprocess.run(
        [str(tempest_venv.executable("python")), str(PARSER)],
        input=subunit,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return [Result(**json.loads(line)) for line in parsed.stdout.decode().splitlines() if line]


def run(workspace: Path, name: str, regex: str, config: str) -> Verdict:
    """One ``tempest run``; its subunit stream read into a Verdict (Tempest's exit status is ignored:
    the records say what happened)."""
    conf = workspace / "etc" / f"{name}.conf"
    conf.write_text(config)
    started = time.monotonic()
    tempest = [str(tempest_venv.executable("tempest")), "run", "--config-file", str(conf)]
    done = subprocess.run(
        [*tempest, "--regex", regex, "--concurrency", "1", "--subunit"],
        cwd=workspace,
        capture_output=True,
        env=_env(workspace),
        timeout=RUN_SECONDS,
    )
    seconds = time.monotonic() - started
    (workspace / f"{name}.subunit").write_bytes(done.stdout)
    results = read_results(done.stdout)
    if not results:
        said = done.stderr.decode(errors="replace")[-3000:]
        raise AssertionError(f"tempest run ({name}) reported no tests (exit {done.returncode}): {said}")
    return Verdict(name, results, seconds, refused_requests(workspace / "logs" / f"{name}.log"))


def run_suite(root: Path, target: Target) -> list[Verdict]:
    """The image suite (qcow2 and raw, format enforcement on), then ListUserImagesTest with raw only and
    enforcement off (it uploads random bytes, which are only a valid raw image)."""
    workspace = make_workspace(root)
    write_accounts(workspace, target.credentials)
    runs = (
        ("image-suite", IMAGE_SUITE, "raw,qcow2", True),
        ("list-user-images-raw", LIST_USER_IMAGES, "raw", False),
    )
    verdicts = []
    for name, regex, disk_formats, enforce in runs:
        config = config_text(target, workspace, name, disk_formats=disk_formats, enforce_formats=enforce)
        verdicts.append(run(workspace, name, regex, config))
    return verdicts


def main(workspace: Path) -> None:
    """Summarise the runs a kept workspace holds (``python -m tests.interop.tempest_run WORKSPACE``)."""
    for stream in sorted(workspace.glob("*.subunit")):
        name = stream.stem
        refused = refused_requests(workspace / "logs" / f"{name}.log")
        print(Verdict(name, read_results(stream.read_bytes()), 0.0, refused).summary(), end="\n\n")


if __name__ == "__main__":
    import sys

    main(Path(sys.argv[1]))
