"""Opening connections the way every stage needs them: source read-only, names always schema-qualified."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict

from pghaul.errors import ConnectionFailed, UsageError
from pghaul.urls import describe_url, scrub

CONNECT_TIMEOUT_SECONDS = 10
APPLICATION_NAME = "pghaul"

# An empty search_path makes format_type(), pg_get_indexdef() and friends print every name with its
# schema, so the DDL we read back is valid whatever the session's path is on the target.
TARGET_SESSION_OPTIONS = "-c search_path= -c statement_timeout=0 -c lock_timeout=0"
# PostgreSQL itself then refuses any write in the source session, whatever a bug in pghaul might try.
SOURCE_SESSION_OPTIONS = TARGET_SESSION_OPTIONS + " -c default_transaction_read_only=on"


def _check_url(url: str | None, role: str, variable: str) -> str:
    if not url:
        raise UsageError(
            f"no {role} database given",
            f"pass --{role} URL or set the {variable} environment variable",
        )
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise UsageError(
            f"the {role} URL is not a valid PostgreSQL connection string",
            "use the form postgresql://user:password@host:5432/dbname",
        ) from exc
    return url


def _open(url: str, role: str, options: str, autocommit: bool) -> psycopg.Connection:
    try:
        return psycopg.connect(
            url,
            autocommit=autocommit,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name=APPLICATION_NAME,
            options=options,
        )
    except psycopg.OperationalError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = scrub(lines[-1] if lines else type(exc).__name__, url)
        raise ConnectionFailed(
            f"cannot connect to the {role} database {describe_url(url)}: {reason}",
            "check the host, port, user, password and database name in the URL, and that the server accepts "
            "connections from here (public vs internal networking on PaaS platforms)",
        ) from None


def connect_source(url: str | None, *, autocommit: bool = True) -> psycopg.Connection:
    """A session on the source that PostgreSQL itself refuses to let write anything."""
    url = _check_url(url, "source", "DATABASE_URL")
    return _open(url, "source", SOURCE_SESSION_OPTIONS, autocommit)


def connect_target(url: str | None, *, autocommit: bool = True) -> psycopg.Connection:
    url = _check_url(url, "target", "NEW_DATABASE_URL")
    return _open(url, "target", TARGET_SESSION_OPTIONS, autocommit)
