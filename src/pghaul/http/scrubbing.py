"""Keeping the migration secret and database passwords out of every log line.

uvicorn's access log records the full path with its query string, so a pasted ``?secret=…`` URL would land in
the platform's logs; exception messages may quote a connection URL. Scrubbing happens where records are born
(a log record factory), so it covers every logger and every handler, including ones added later such as a
host app's or pytest's, and also as a plain ``logging.Filter`` for handlers configured by uvicorn.

One :class:`LogScrubber` per admin API holds its secrets; no module state. It changes logging only while
installed (the router's lifespan: while the API serves), and puts the previous record factory back after.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
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


def _pattern_scrub(text: str, known: Iterable[str]) -> str:
    """``text`` without the ``known`` secrets, secret-looking query values, conninfo passwords and URL passwords.

    The known values go first: a pattern that cut a secret in two would leave the rest of it for the known-value
    replacement to miss.
    """
    out = scrub(text, *sorted(known, key=len, reverse=True))
    out = _PAIR.sub(_scrub_pair, out)
    return _CONNINFO_PASSWORD.sub(lambda m: m.group("key") + "***", out)


class LogScrubber:
    """The secrets of one admin API (its MIGRATION_SECRET, both database URLs) and the means to keep them out of
    log records and replies.

    Created with the router, which scrubs its replies with it; logging is changed only by :meth:`install`, which
    the router's lifespan calls when the API starts serving (under ``create_app``, ``pghaul serve`` or a host app)
    and undoes with :meth:`uninstall` when it stops. A router created and dropped leaves logging as it was.
    """

    def __init__(self, *secrets: str | None) -> None:
        self._known = frozenset(secrets_of(*secrets))
        self._lock = threading.Lock()
        self._previous: Callable[..., logging.LogRecord] | None = None
        self._factory: Callable[..., logging.LogRecord] | None = None

    def text(self, text: str) -> str:
        return _pattern_scrub(text, self._known)

    def reply(self, value: Any) -> Any:
        """A JSON value with every string in it scrubbed (job errors and hints recorded on the target, by this
        server, another one or the command line, may quote a URL or a secret)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.reply(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.reply(v) for v in value]
        return value

    def model(self, reply: M) -> M:
        """A typed reply with every string in it scrubbed, its unset fields still unset."""
        return type(reply).model_validate(self.reply(reply.model_dump(exclude_unset=True)))

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes | bytearray | int | float | bool) or value is None:
            return value
        # Objects are turned into text here, where we can still scrub what their str() says.
        text = str(value)
        cleaned = self.text(text)
        return value if cleaned == text else cleaned

    def record(self, record: logging.LogRecord) -> logging.LogRecord:
        if isinstance(record.msg, str):
            record.msg = self.text(record.msg)
        elif record.msg is not None:
            record.msg = self._value(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._value(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._value(v) for k, v in record.args.items()}
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = self.text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.text(record.stack_info)
        return record

    @property
    def installed(self) -> bool:
        return self._factory is not None

    def install(self) -> None:
        """Scrub every log record from now on, whoever logs it and whichever handler writes it (a host app's or
        pytest's too): the record factory is wrapped, so records are scrubbed where they are born."""
        with self._lock:
            if self._factory is not None:
                return
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                return self.record(record) if self._factory is not None else record

            # Lets a later uninstall see through this factory once it only passes records on.
            factory.scrubber, factory.previous = self, previous  # type: ignore[attr-defined]
            self._previous, self._factory = previous, factory
            logging.setLogRecordFactory(factory)

    def uninstall(self) -> None:
        """Stop scrubbing; the factory in place before :meth:`install` is put back when nobody wrapped it since
        (otherwise ours passes records through untouched, and is dropped when the one above it uninstalls)."""
        with self._lock:
            factory, previous = self._factory, self._previous
            self._factory = self._previous = None
        if factory is None or previous is None or logging.getLogRecordFactory() is not factory:
            return
        # Skip factories of scrubbers uninstalled meanwhile: they only pass records through.
        while isinstance(getattr(previous, "scrubber", None), LogScrubber) and not previous.scrubber.installed:  # type: ignore[attr-defined]
            previous = previous.previous  # type: ignore[attr-defined]
        logging.setLogRecordFactory(previous)


class ScrubFilter(logging.Filter):
    """For handlers configured outside our control (uvicorn's dictConfig); never drops a record."""

    def __init__(self, scrubber: LogScrubber | None = None) -> None:
        super().__init__()
        self._scrubber = scrubber if scrubber is not None else LogScrubber()

    def filter(self, record: logging.LogRecord) -> bool:
        self._scrubber.record(record)
        return True
