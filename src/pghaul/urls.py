"""Connection URLs as they may be shown to a person: never with a password."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from psycopg.conninfo import conninfo_to_dict, make_conninfo

_SECRET_PARAMS = {"password", "sslpassword", "passfile", "sslkey"}
_URL_PASSWORD = re.compile(r"(?P<scheme>postgres(?:ql)?://)(?P<user>[^:@/\s]*):(?P<pw>[^@/\s]*)@")


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``; keyword/value conninfo strings too."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return _URL_PASSWORD.sub(r"\g<scheme>\g<user>:***@", url)
    if parts.scheme in ("postgres", "postgresql"):
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostinfo = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{hostinfo}" if ":" in userinfo else f"{user}@{hostinfo}"
        query = urlencode(
            [(k, "***" if k in _SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)],
            safe="/",
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    try:
        params = conninfo_to_dict(url)
    except Exception:
        return "<connection string>"
    return make_conninfo(**{k: ("***" if k in _SECRET_PARAMS else v) for k, v in params.items()})


def scrub(text: str, *secrets: str | None) -> str:
    """Remove every password-bearing URL and every given secret from free text (error messages, logs)."""
    out = _URL_PASSWORD.sub(r"\g<scheme>\g<user>:***@", text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "***")
    return out


def describe_url(url: str) -> str:
    """Short human name of a server: ``user@host:port/db``, no password."""
    try:
        p = conninfo_to_dict(url)
    except Exception:
        return redact_url(url)
    host = p.get("host") or "localhost"
    port = p.get("port")
    db = p.get("dbname") or p.get("user") or ""
    user = p.get("user")
    where = f"{host}:{port}" if port else host
    return f"{user + '@' if user else ''}{where}/{db}"
