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


# What is wrong with a string libpq cannot parse, in words that never repeat the string: libpq's own message may
# quote any part of it, the password included ("invalid percent-encoded token: …").
_URL_PROBLEMS = (
    ("invalid URI query parameter", "a parameter after '?' that PostgreSQL does not know"),
    ("unterminated quoted string", "a quote that is not closed"),
    ("matching \"]\"", "an IPv6 address whose ']' is missing"),
    ("percent-encoded", "a malformed %-escape (in a URL, a % in the password is written %25)"),
    ('missing "="', "neither a postgresql:// URL nor key=value pairs"),
)


def _check_url(url: str | None, role: str, variable: str) -> str:
    if not url:
        raise UsageError(
            f"no {role} database given",
            f"pass --{role} URL or set the {variable} environment variable",
        )
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        problem = next((words for found, words in _URL_PROBLEMS if found in str(exc)), "")
        raise UsageError(
            f"the {role} URL is not a valid PostgreSQL connection string" + (f": {problem}" if problem else ""),
            "use the form postgresql://USER@HOST:5432/DBNAME (the password after the user, separated by a colon), "
            "or key=value pairs such as host=HOST port=5432 dbname=DBNAME user=USER",
        ) from None
    return url


def _open(url: str, role: str, options: str, autocommit: bool) -> psycopg.Connection:
    # A connect_timeout the URL sets is the user's choice (a slow network, or a quick failure wanted): kept.
    timeout = {} if "connect_timeout" in conninfo_to_dict(url) else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    try:
        return psycopg.connect(
            url, autocommit=autocommit, application_name=APPLICATION_NAME, options=options, **timeout
        )
    except psycopg.OperationalError as exc:
        # libpq's message may take several lines (what failed, then what to do): one line, all of it.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = scrub(" ".join(lines) if lines else type(exc).__name__, url)
        raise ConnectionFailed(
            f"cannot connect to the {role} database {describe_url(url)}: {reason}", _connect_hint(reason)
        ) from None


# What to do about the failures people meet most, recognised by libpq's or the server's own words.
_CONNECT_HINTS = (
    ("unsupported startup parameter", "a connection pooler (PgBouncer) refuses the start-up options pghaul sends: "
     "connect pghaul to the database directly, or add `options` to the pooler's ignore_startup_parameters and use "
     "its session mode"),
    ("password authentication failed", "check the user and the password in the URL (in a URL, characters such as "
     "@ : / ? # % in the password must be percent-encoded)"),
    ("root certificate", "sslmode verify-ca and verify-full check the server's certificate against a CA: give "
     "its file with sslrootcert=/path/to/ca.pem (or sslrootcert=system), or use sslmode=require"),
    ("SSL", "the server and the URL disagree about TLS: set sslmode in the URL as the provider documents "
     "(?sslmode=require for a server that only accepts TLS, sslmode=disable for one without it)"),
    ("no encryption", "the server only accepts this connection over TLS: add ?sslmode=require to the URL"),
    ("connection is bad", "a setting in the URL has a value PostgreSQL does not accept (named above): fix it"),
    ("timeout expired", "the server did not answer in time: check the host and port, that it is running and that "
     "a firewall lets this machine through (public vs internal networking on PaaS platforms)"),
)
_DEFAULT_HINT = ("check the host, port, user, password and database name in the URL, and that the server accepts "
                 "connections from here (public vs internal networking on PaaS platforms)")


def _connect_hint(reason: str) -> str:
    return next((hint for words, hint in _CONNECT_HINTS if words in reason), _DEFAULT_HINT)


def pin_session(conn: psycopg.Connection) -> None:
    """The start-up options' settings, set again in the session: a pooler that drops the options must not leave
    pghaul with a search_path that makes the catalog print unqualified names (or a server's statement timeout).
    Then, in a transaction of its own, checked to have held (``conn`` in autocommit, no transaction open)."""
    row = conn.execute(
        "SELECT pg_catalog.pg_backend_pid(), pg_catalog.set_config('search_path', '', false),"
        " pg_catalog.set_config('statement_timeout', '0', false), pg_catalog.set_config('lock_timeout', '0', false)"
    ).fetchone()
    _refuse_transaction_pooling(conn, row[0] if row else None)
    _end_with_the_client(conn)


# How often the server checks, while one statement runs, that pghaul is still connected (PostgreSQL 14 and later).
# Without it a pghaul process killed during an hour-long index build or a checksum of a big table leaves that
# statement running to its end: on the target still holding the migration lock, so the next run is refused as
# "another migration running"; on the source holding an old snapshot that keeps vacuum from cleaning up.
CLIENT_CHECK_INTERVAL = "5s"


def _end_with_the_client(conn: psycopg.Connection) -> None:
    if conn.info.server_version < 140000:
        return
    try:
        conn.execute("SELECT pg_catalog.set_config('client_connection_check_interval', %s, false)",
                     [CLIENT_CHECK_INTERVAL])
    except psycopg.errors.InvalidParameterValue:
        pass  # a platform whose kernel cannot tell (PostgreSQL then allows only 0): the statement runs to its end


def _refuse_transaction_pooling(conn: psycopg.Connection, backend: int | None) -> None:
    """A pooler in transaction mode hands each transaction to whichever server session is free: settings made in
    one are gone in the next, and so are the snapshot exports, temporary staging tables, advisory locks and
    prepared statements pghaul relies on. Read back in a new transaction, the search_path just set and the server
    process show it (a pooler that restores tracked settings still changes the process; one that happens to hand
    back the same process cannot be told from a direct connection, and then does no harm yet)."""
    row = conn.execute("SELECT pg_catalog.pg_backend_pid(), pg_catalog.current_setting('search_path')").fetchone()
    if row is not None and (row[0], row[1]) == (backend, ""):
        return
    raise SafetyError(
        f"the session on {describe_url(conn.info.dsn)} does not keep its settings from one transaction to the "
        "next: a connection pooler in transaction mode (PgBouncer pool_mode = transaction, Supavisor's or "
        "RDS Proxy's transaction port) is in between",
        "pghaul needs one server session per connection: connect it to the database directly, or through the "
        "pooler's session mode (PgBouncer pool_mode = session; on Supabase or Neon the direct or session host "
        "and port), then retry",
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
