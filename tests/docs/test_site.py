"""The docs site builds with ``mkdocs build --strict`` (any warning fails: a broken link or anchor, a page
left out of the navigation, a setting without a meaning), its generated reference names every setting and
every command of the code, and the README stays a front page that points nowhere outside the repository."""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.tools import REPOSITORY, missing

README = REPOSITORY / "README.md"
BUILD_SECONDS = 300
_LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)|<(https?://[^>]+)>")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", REPOSITORY / "docs" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        missing("mkdocs and mkdocs-material are not installed: pip install -e '.[docs]' (make deps does)")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
    )
    warnings = [line for line in done.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert (done.returncode, warnings) == (0, []), done.stderr[-4000:]
    return out


def _page_text(site: Path, page: str) -> str:
    return html.unescape((site / page / "index.html").read_text())


def test_the_site_builds_strict_with_every_guide(site: Path) -> None:
    for page in (
        "user/cli", "user/sdk", "user/console", "user/openstack", "user/scp-clients", "user/moving-disks",
        "operator/install", "operator/configure", "operator/deploy", "operator/backup", "operator/quotas",
        "operator/audit", "operator/scrub", "operator/monitoring",
        "operator/health-and-logs", "upgrading", "scaling",
        "reference/api", "reference/settings", "reference/cli",
        "architecture", "decisions", "security", "performance",
    ):  # fmt: skip
        assert (site / page / "index.html").is_file(), f"the site has no {page} page"
    assert not (site / "gen_reference.py").exists()  # the hook is not published


def _typer_paths(app: Any, prefix: str) -> list[str]:
    """Every command path, read from the Typer objects (not from the click tree the generator walks)."""
    paths = []
    for command in app.registered_commands:
        name = command.name or command.callback.__name__.replace("_", "-")
        paths.append(f"{prefix} {name}")
    for group in app.registered_groups:
        name = group.name or group.typer_instance.info.name
        paths.append(f"{prefix} {name}")
        paths += _typer_paths(group.typer_instance, f"{prefix} {name}")
    return paths


def test_the_generated_reference_names_every_setting_and_command(site: Path) -> None:
    from scp_images.cli import main
    from scp_images.config import Settings

    settings = _page_text(site, "reference/settings")
    absent = [name for name in Settings.model_fields if f"SCP_IMAGES_{name.upper()}" not in settings]
    assert not absent, f"settings missing from the reference: {absent}"

    _generator().cli_root()  # the operator commands added, as `scp-images admin …` adds them
    commands = _typer_paths(main.app, "scp-images")
    assert {"scp-images image create", "scp-images admin key create", "scp-images serve"} <= set(commands)
    cli = _page_text(site, "reference/cli")
    absent = [path for path in commands if f"<code>{path}</code>" not in cli]
    assert not absent, f"commands missing from the CLI reference: {absent}"


def test_a_setting_without_a_meaning_is_a_build_warning(caplog: pytest.LogCaptureFixture) -> None:
    """What makes the strict build fail when a setting is added and not documented."""
    generator = _generator()
    generator.MEANINGS.pop("region")
    with caplog.at_level("WARNING", logger="mkdocs.plugins.gen_reference"):
        generator.settings_markdown()
    assert any("SCP_IMAGES_REGION" in r.getMessage() or "region" in r.getMessage() for r in caplog.records)


def _links(text: str) -> list[str]:
    return [next(group for group in match.groups() if group) for match in _LINK.finditer(text)]


def test_the_readme_is_a_front_page() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    # The two set-up commands, at the top, as they have always been.
    top = "\n".join(text.splitlines()[:15])
    assert "pip install -e '.[server]' && scp-images serve" in top
    assert "make test" in top


def test_the_readme_links_only_into_the_repository() -> None:
    links = _links(README.read_text())
    assert links, "the README links into the docs"
    for link in links:
        if link.startswith(("http://127.0.0.1", "https://")):
            continue  # the local console, external projects
        target = link.split("#", 1)[0]
        assert not link.startswith(("/", "..", "file:")), f"{link} points outside the repository"
        assert (REPOSITORY / target).exists(), f"the README links to {link}, which does not exist"
        assert (REPOSITORY / target).resolve().is_relative_to(REPOSITORY), link
