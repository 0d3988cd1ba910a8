"""Opening connections the way every stage needs them: source read-only, names always schema-qualified."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict

from pghaul.errors import ConnectionFailed, SafetyError, UsageError
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


def pin_session(conn: psycopg.Connection) -> None:
    """The start-up options' settings, set again in the session: a pooler that drops the options must not leave
    pghaul with a search_path that makes the catalog print unqualified names (or a server's statement timeout)."""
    conn.execute(
        "SELECT pg_catalog.set_config('search_path', '', false),"
        " pg_catalog.set_config('statement_timeout', '0', false), pg_catalog.set_config('lock_timeout', '0', false)"
    )


def prepare_source_session(conn: psycopg.Connection) -> None:
    """What every source session gets before use (the request pools call it for each new connection)."""
    pin_session(conn)
    ensure_read_only(conn)


def _read_only(conn: psycopg.Connection) -> bool:
    # In autocommit each statement is its own transaction, so this is what every later transaction starts as.
    row = conn.execute("SELECT pg_catalog.current_setting('transaction_read_only')").fetchone()
    return bool(row and row[0] == "on")


def ensure_read_only(conn: psycopg.Connection) -> None:
    """Make sure PostgreSQL refuses writes in this source session (``conn`` in autocommit, no transaction open).

    The start-up options ask for it, but a connection pooler or proxy may drop them silently: then the session
    asks for it itself, checks again, and refuses the session if it still could write.
    """
    if _read_only(conn):
        return
    conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    if not _read_only(conn):
        raise SafetyError(
            f"the session on the source {describe_url(conn.info.dsn)} is not read-only and could not be made so",
            "pghaul only reads the source and lets PostgreSQL enforce it: connect it to the source directly or "
            "through a pooler in session mode (not transaction mode), then retry",
        )


def connect_source(url: str | None, *, autocommit: bool = True) -> psycopg.Connection:
    """A session on the source that PostgreSQL itself refuses to let write anything (checked, not assumed)."""
    url = _check_url(url, "source", "DATABASE_URL")
    conn = _open(url, "source", SOURCE_SESSION_OPTIONS, True)
    try:
        prepare_source_session(conn)
        conn.autocommit = autocommit
    except BaseException:
        conn.close()
        raise
    return conn


# The opt-in writes to the source (a cutover's freeze, follow's publication) need a session that may write even
# while the database's own setting makes new sessions read-only (a frozen source being unfrozen).
WRITABLE_SOURCE_OPTIONS = TARGET_SESSION_OPTIONS + " -c default_transaction_read_only=off"


def connect_source_writable(url: str | None) -> psycopg.Connection:
    """A source session that may write (autocommit): only for the writes to the source the user opted into —
    freezing and unfreezing it at cutover (``engine/freeze.py``) and follow's publication (``pghaul.follow``).
    Every other source session comes from ``connect_source`` and is read-only by design. The setting is set again
    in the session, in case a pooler dropped the start-up options."""
    url = _check_url(url, "source", "DATABASE_URL")
    conn = _open(url, "source", WRITABLE_SOURCE_OPTIONS, True)
    try:
        pin_session(conn)
        conn.execute("SET default_transaction_read_only = off")
    except BaseException:
        conn.close()
        raise
    return conn


def connect_target(url: str | None, *, autocommit: bool = True) -> psycopg.Connection:
    url = _check_url(url, "target", "NEW_DATABASE_URL")
    conn = _open(url, "target", TARGET_SESSION_OPTIONS, True)
    try:
        pin_session(conn)
        conn.autocommit = autocommit
    except BaseException:
        conn.close()
        raise
    return conn
