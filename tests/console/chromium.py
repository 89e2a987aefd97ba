"""How the browser tests start Debian's chromium, without importing Playwright (so the tests that need no
browser still run where it is missing)."""

from __future__ import annotations

import os

# Flags for this machine's closed network (no background fetches, no QUIC, no first-run work).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A name that is not localhost: pages there are not a secure context (no WebCrypto).
    "--host-resolver-rules=MAP insecure.test 127.0.0.1",
]
INSECURE_HOST = "insecure.test"


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
