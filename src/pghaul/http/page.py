"""The migration page: one HTML file with inline CSS and JavaScript, served under a strict Content-Security-Policy.

The policy allows exactly the inline ``<script>`` and ``<style>`` blocks the file holds, by their SHA-256 hashes,
and nothing from any other origin; so injected markup can neither run script nor load or send anything elsewhere.
Inline event handler attributes (``onclick=``) and ``style=`` attributes are therefore not allowed in the page.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fastapi.responses import HTMLResponse

from pghaul import __version__

PAGE_FILE = "migrate.html"
# Where the page's footer shows which pghaul serves it (outside any script or style, so no policy hash changes).
VERSION_MARK = "{{PGHAUL_VERSION}}"

_INLINE = {
    "script": re.compile(r"<script\b(?P<attrs>[^>]*)>(?P<body>.*?)</script\s*>", re.IGNORECASE | re.DOTALL),
    "style": re.compile(r"<style\b(?P<attrs>[^>]*)>(?P<body>.*?)</style\s*>", re.IGNORECASE | re.DOTALL),
}
_HAS_SRC = re.compile(r"\bsrc\s*=", re.IGNORECASE)

PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pghaul migration</title></head>
<body><h1>pghaul migration</h1>
<p>The migration page is not installed in this copy of pghaul. The API under this address works:
see the migration guide for the URLs to open.</p></body></html>
"""

# What a browser shows while ALLOW_DB_MIGRATION is not true: the API answers JSON 403, but a person opening the
# page needs a sentence. No script: the page holds nothing to protect and nothing to do until the switch is on.
LOCKED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>pghaul migration: locked</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
code{background:#eee;padding:0 .2em}</style></head>
<body><main><h1>The migration page is locked</h1>
<p>To unlock it, set the environment variable <code>ALLOW_DB_MIGRATION</code> to <code>true</code> on this service
and restart (redeploy) it. Then reload this page.</p>
<p>Remove the variable again when the migration is done, so nobody can start one by accident.</p>
</main></body></html>
"""
LOCKED_STATUS = 403

# What a browser shows when the platform's proxy says the page was asked for over plain http: the page would send
# the secret the same way. No link is built from the request's Host header: nothing of the request is reflected.
INSECURE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>pghaul migration: use https</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
code{background:#eee;padding:0 .2em}</style></head>
<body><main><h1>Open this page over https</h1>
<p>This address starts with <code>http://</code>, so the migration secret would cross the internet unencrypted.
Open the same address starting with <code>https://</code> instead.</p>
<p>If you already typed the secret on an <code>http://</code> page, change <code>MIGRATION_SECRET</code> on the
service and redeploy.</p>
</main></body></html>
"""
INSECURE_STATUS = 403


def _hashes(html: str, tag: str) -> list[str]:
    out = []
    for match in _INLINE[tag].finditer(html):
        if tag == "script" and _HAS_SRC.search(match.group("attrs")):
            continue
        digest = hashlib.sha256(match.group("body").encode("utf-8")).digest()
        out.append("'sha256-" + base64.b64encode(digest).decode("ascii") + "'")
    return out


def content_security_policy(html: str) -> str:
    scripts = " ".join(_hashes(html, "script")) or "'none'"
    styles = " ".join(_hashes(html, "style")) or "'none'"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            f"style-src {styles}",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(csp: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[int, int] | None
    html: str
    csp: str


def _page_path() -> Path | None:
    try:
        path = Path(str(resources.files("pghaul.http").joinpath("static", PAGE_FILE)))
    except (ModuleNotFoundError, FileNotFoundError):
        return None
    return path if path.is_file() else None


class Page:
    """The page with its policy, hashed once and again only when the file changes on disk."""

    def __init__(self, path: Path | None = None) -> None:
        self._explicit = path
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None

    def _load(self) -> _Loaded:
        path = self._explicit or _page_path()
        if path is None or not path.is_file():
            return _Loaded(None, PLACEHOLDER, content_security_policy(PLACEHOLDER))
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._loaded is not None and self._loaded.stamp == stamp:
                return self._loaded
            html = path.read_text(encoding="utf-8").replace(VERSION_MARK, __version__)
            self._loaded = _Loaded(stamp, html, content_security_policy(html))
            return self._loaded

    @staticmethod
    def insecure_response() -> HTMLResponse:
        return HTMLResponse(INSECURE_PAGE, status_code=INSECURE_STATUS,
                            headers=security_headers(content_security_policy(INSECURE_PAGE)))

    @staticmethod
    def locked_response() -> HTMLResponse:
        return HTMLResponse(LOCKED_PAGE, status_code=LOCKED_STATUS,
                            headers=security_headers(content_security_policy(LOCKED_PAGE)))

    def response(self) -> HTMLResponse:
        loaded = self._load()
        return HTMLResponse(loaded.html, headers=security_headers(loaded.csp))
