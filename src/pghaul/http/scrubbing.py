"""Keeping the migration secret and database passwords out of every log line.

uvicorn's access log records the full path with its query string, so a pasted ``?secret=…`` URL would land in
the platform's logs; exception messages may quote a connection URL. Scrubbing happens where records are born
(a log record factory), so it covers every logger and every handler, including ones added later such as a
host app's or pytest's, and also as a plain ``logging.Filter`` for handlers configured by uvicorn.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus, unquote_plus

from psycopg.conninfo import conninfo_to_dict
from pydantic import BaseModel

from pghaul.urls import scrub

# A key=value pair as a query string or a log line has it. The key starts after a separator (so a long token is
# scanned once, not from each of its characters) and may be percent-encoded, its "=" too; the value runs to the
# next "&" or space, so "secret=abc;def" is one value, as the server itself parses it.
_PAIR = re.compile(
    r"(?<![^\s&?;,\"'<>])(?P<key>[^\s&?=;,\"'<>]{1,256})(?P<eq>=|%3[dD])(?P<value>[^\s&\"'<>]+)"
)
_SENSITIVE_KEY = re.compile(r"(?:secret|password|passwd|pwd|token)$")
# How often a key or a value is percent-decoded: "%2573ecret" is "%73ecret" is "secret".
_DECODE_ROUNDS = 3
_CONNINFO_PASSWORD = re.compile(r"(?i)(?P<key>\bpassword\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|[^\s'\"]+)")

M = TypeVar("M", bound=BaseModel)

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


def secrets_of(*values: str | None) -> set[str]:
    """The strings that must never be logged: the values themselves and any password inside a connection string."""
    found: set[str] = set()
    for value in values:
        if not value:
            continue
        # Query strings reach the access log percent-encoded.
        found.update({value, quote(value, safe=""), quote_plus(value)})
        try:
            password = conninfo_to_dict(value).get("password")
        except Exception:
            password = None
        if password:
            found.update({str(password), quote(str(password), safe=""), quote_plus(str(password))})
    return found


def _decoded(text: str) -> str:
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote_plus(text)
        if decoded == text:
            break
        text = decoded
    return text


def _is_sensitive_pair(match: re.Match[str]) -> bool:
    return bool(_SENSITIVE_KEY.search(_decoded(match.group("key")).strip().lower()))


def _hides_a_secret(value: str) -> bool:
    """A value that is itself an encoded query, such as a ``next=`` URL carrying ``secret=``."""
    if "%" not in value and "=" not in value:
        return False
    return any(_is_sensitive_pair(m) for m in _PAIR.finditer(_decoded(value)))


def _scrub_pair(match: re.Match[str]) -> str:
    if _is_sensitive_pair(match) or _hides_a_secret(match.group("value")):
        return match.group("key") + match.group("eq") + "***"
    return match.group(0)


def scrub_text(text: str) -> str:
    """``text`` without the known secrets, secret-looking query values, conninfo passwords and URL passwords.

    The known values go first: a pattern that cut a secret in two would leave the rest of it for the known-value
    replacement to miss.
    """
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    out = scrub(text, *known)
    out = _PAIR.sub(_scrub_pair, out)
    return _CONNINFO_PASSWORD.sub(lambda m: m.group("key") + "***", out)


def scrub_reply(value: Any) -> Any:
    """A JSON reply with every string in it scrubbed (job errors and hints recorded on the target, by this
    server, another one or the command line, may quote a URL or a secret)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: scrub_reply(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_reply(v) for v in value]
    return value


def scrub_model(reply: M) -> M:
    """A typed reply with every string in it scrubbed, its unset fields still unset."""
    return type(reply).model_validate(scrub_reply(reply.model_dump(exclude_unset=True)))


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bytes | bytearray):
        return value
    if isinstance(value, int | float | bool) or value is None:
        return value
    # Objects are turned into text here, where we can still scrub what their str() says.
    text = str(value)
    cleaned = scrub_text(text)
    return value if cleaned == text else cleaned


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    if isinstance(record.msg, str):
        record.msg = scrub_text(record.msg)
    elif record.msg is not None:
        record.msg = _scrub_value(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_scrub_value(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _scrub_value(v) for k, v in record.args.items()}
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        record.exc_text = scrub_text(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = scrub_text(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub_text(record.stack_info)
    return record


class ScrubFilter(logging.Filter):
    """For handlers configured outside our control (uvicorn's dictConfig); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


def install_log_scrubbing(*secrets: str | None) -> None:
    """Register secrets to hide and, once per process, wrap the log record factory so every record is scrubbed."""
    global _installed
    with _lock:
        _secrets.update(secrets_of(*secrets))
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return scrub_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
