"""The web console: static HTML, CSS and JavaScript modules that call the public SCP API from the browser.

Nothing here runs on the server but file lookup; ``http/routes/console.py`` serves these files.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
