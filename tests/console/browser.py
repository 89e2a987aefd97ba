"""Driving the console in Debian's chromium through Playwright: a page per test with its CSP violations,
page errors and requests recorded, plus the accessibility check and screenshots."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.console.chromium import CHROMIUM_ARGS, INSECURE_HOST, running_in_ci
from tests.support.stack import Key
from tests.support.tools import missing

try:
    from playwright.sync_api import expect
except ImportError:  # CI installs the test extra: there a missing Playwright is an error, never a skip
    missing("playwright is not installed: pip install '.[test]'", module_level=True)

__all__ = ["CHROMIUM_ARGS", "INSECURE_HOST", "Console", "expect", "running_in_ci"]

# Recorded from the first script on: a violated CSP directive or an uncaught error fails the test.
RECORDER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
window.__progress = [];
new MutationObserver((records) => {
  for (const r of records) {
    if (r.target.id === 'upload-progress-bar' && r.target.getAttribute('value') !== null)
      window.__progress.push(Number(r.target.getAttribute('value')));
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ['value'] });
"""


@dataclass
class SentRequest:
    url: str
    method: str
    headers: dict[str, str]
    body: str
    navigation: bool
    resource_type: str


@dataclass
class Console:
    page: Any
    base_url: str
    shots: Path
    page_errors: list[str] = field(default_factory=list)
    requests: list[SentRequest] = field(default_factory=list)

    def record(self) -> None:
        self.page.add_init_script(RECORDER)
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.page.on("request", self._on_request)

    def _on_request(self, request: Any) -> None:
        try:
            body = request.post_data or ""
        except Exception:  # binary upload bodies do not decode as text
            body = ""
        self.requests.append(
            SentRequest(
                request.url,
                request.method,
                dict(request.headers),
                body,
                request.is_navigation_request(),
                request.resource_type,
            )
        )

    def open(self, route: str = "") -> None:
        self.page.goto(f"{self.base_url}/console{route}")

    def sign_in(self, key: Key) -> None:
        self.open()
        self.page.get_by_label("Access key").fill(key.access_key)
        self.page.get_by_label("Secret key").fill(key.secret_key)
        self.page.get_by_label("Account ID").fill(key.account_id)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("heading", level=1)).to_have_text("Images")

    def heading(self) -> Any:
        return self.page.get_by_role("heading", level=1)

    def error_box(self) -> Any:
        return self.page.locator("#error")

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(path))
        return path

    def axe(self, what: str) -> None:
        """No serious or critical accessibility violation on the page as it is now."""
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(self.page)
        bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
        summary = [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]} for v in bad
        ]
        assert not bad, f"accessibility violations on {what}: {json.dumps(summary, indent=1)}"

    def no_horizontal_overflow(self) -> None:
        width = self.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"the page scrolls sideways: {width}"

    def check_clean(self) -> None:
        violations = self.page.evaluate("window.__csp ?? []")
        assert violations == [], f"Content-Security-Policy violations: {violations}"
        assert self.page_errors == [], f"errors in the page: {self.page_errors}"
