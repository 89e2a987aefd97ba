"""The console's files: served from the package with a strict CSP and the usual security headers; nothing
but the package's own files is ever served."""

from __future__ import annotations

import re

import pytest

from scp_images.console import STATIC_DIR
from scp_images.http.routes.console import CONTENT_SECURITY_POLICY
from tests.support.stack import Stack


@pytest.mark.parametrize("path", ["/console", "/console/", "/console/index.html"])
def test_the_page_and_its_headers(stack: Stack, path: str) -> None:
    page = stack.http.get(stack.base_url + path)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    csp = page.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cross-origin-opener-policy"] == "same-origin"


def test_no_inline_script_or_style_in_the_files() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert "<style" not in html
    for path in STATIC_DIR.rglob("*"):
        if path.suffix in (".html", ".js"):
            text = path.read_text()
            assert "style=" not in text, path
            assert ".innerHTML" not in text and "insertAdjacentHTML" not in text, path
            assert "eval(" not in text and "new Function" not in text, path


def test_scripts_and_styles_have_their_types(stack: Stack) -> None:
    script = stack.http.get(stack.base_url + "/console/js/main.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    style = stack.http.get(stack.base_url + "/console/console.css")
    assert style.headers["content-type"] == "text/css; charset=utf-8"


@pytest.mark.parametrize(
    "path",
    [
        "/console/nothing.js",
        "/console/../app.py",
        "/console/%2e%2e/__init__.py",
        "/console/js/../../__init__.py",
        "/console/..%2f__init__.py",
        "/console/js",
        "/console/js/",
        "/console//etc/passwd",
    ],
)
def test_only_the_package_files_are_served(stack: Stack, path: str) -> None:
    got = stack.http.get(stack.base_url + path)
    assert got.status_code == 404
    assert got.json()["errors"][0]["code"] == "virtualserver.NotFound"


def test_every_console_file_is_in_the_package_data() -> None:
    """pip install ships the console: each of its files matches a package-data pattern."""
    import tomllib
    from fnmatch import fnmatch

    root = STATIC_DIR.parent.parent
    pyproject = tomllib.loads((root.parent.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["scp_images"]
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            name = path.relative_to(root).as_posix()
            assert any(fnmatch(name, p) and name.count("/") == p.count("/") for p in patterns), name
