"""Freezing the source for a cutover, and unfreezing it: the one write pghaul ever makes to the source.

At cutover the owner pauses the app's writes; with ``--freeze-source`` pghaul also makes sure nothing still
writes while the final sync runs. ``freeze_source`` sets ``default_transaction_read_only = on`` on the source
database (``ALTER DATABASE``), which only applies to sessions that start afterwards, and then ends every other
client session connected to that database, so the app's open sessions reconnect into read-only ones.
``unfreeze_source`` takes the setting away again.

The order is what makes a failure harmless: the ``ALTER DATABASE`` commits first (autocommit), then the sessions
are ended. If ending them fails, the database is already read-only for new sessions, ``freeze_status`` says
"frozen", running freeze again finishes the job and ``unfreeze`` undoes it. Ending the sessions first would let
the app reconnect writable before the setting exists.

Where the state before the freeze is kept: nowhere, because there is only one state freeze changes. pghaul
freezes only a database that has no database-level ``default_transaction_read_only`` setting of its own (no
entry in ``pg_db_role_setting`` for that database and ``setrole = 0``). So "frozen" means "that entry exists and
is true", and unfreeze always ``RESET``s it, which deletes exactly the entry freeze added and leaves the
database's other settings as they were. A database whose own setting is ``off`` is refused before anything is
changed (pghaul will not overwrite someone else's setting, and could not restore it). A database whose own
setting is already true is reported as already frozen and its setting left alone: that is what makes a second
freeze (or one retried after a failure) harmless. The price, stated in its report: pghaul cannot tell its own
earlier freeze from a database someone made read-only before, and ``unfreeze`` would make such a database
writable. No comment, table or other object on the source records anything.

Roles whose own setting (``ALTER ROLE … SET``, everywhere or in this database) turns read-only off would not be
stopped by the database's setting, which theirs overrides: the freeze refuses while such roles exist.

What it guards against: the app's ordinary sessions. Any role may still ask for a writable session itself
(``SET default_transaction_read_only = off``, ``BEGIN READ WRITE``, or the setting in its connection string), so
the freeze does not stop a client that means to write, nor an administrator.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from pghaul.connect import connect_source_writable
from pghaul.errors import SafetyError
from pghaul.urls import describe_url

# Start-up options of the one writable source session: read-only off, so it can run ALTER DATABASE (and
# unfreeze can, when the database's own setting is on).
# pg_terminate_backend waits this long for each session to end, so when freeze returns the sessions are gone,
# not merely signalled; a session that does not end in time is reported as still open.
TERMINATE_WAIT_MS = 5_000

STATE_SQL = """
SELECT d.datname AS name, pg_catalog.pg_get_userbyid(d.datdba) AS owner, r.rolname AS role,
       r.rolsuper OR pg_catalog.pg_has_role(r.oid, d.datdba, 'USAGE') AS may_alter,
       (SELECT pg_catalog.substr(c, pg_catalog.strpos(c, '=') + 1)::boolean
          FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) AS c
         WHERE s.setdatabase = d.oid AND s.setrole = 0
           AND pg_catalog.split_part(c, '=', 1) = 'default_transaction_read_only') AS read_only
  FROM pg_catalog.pg_database d, pg_catalog.pg_roles r
 WHERE d.datname = pg_catalog.current_database() AND r.rolname = current_user
"""

# Login roles whose own setting overrides the database's with read-only off: the most specific one counts (this
# database's for the role, else the role's everywhere), as it does when such a role logs in.
WRITABLE_ROLES_SQL = """
SELECT rolname FROM (
  SELECT DISTINCT ON (r.oid) r.rolname, pg_catalog.substr(c, pg_catalog.strpos(c, '=') + 1)::boolean AS read_only
    FROM pg_catalog.pg_db_role_setting s
    JOIN pg_catalog.pg_roles r ON r.oid = s.setrole AND r.rolcanlogin, pg_catalog.unnest(s.setconfig) AS c
   WHERE s.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()))
     AND pg_catalog.split_part(c, '=', 1) = 'default_transaction_read_only'
   ORDER BY r.oid, s.setdatabase DESC
) AS most_specific
 WHERE NOT read_only
 ORDER BY 1
"""

# Every other client session on this database, and whether this role may end it: PostgreSQL's own rule (a
# superuser ends anything; others no superuser's session, and only sessions of roles whose privileges they have,
# or any with pg_signal_backend). backend_type is NULL on rows whose role this one may not inspect: such a row is
# a client, a WAL sender or a background worker, and is treated as a client. Autovacuum and the server's own
# processes have no role and are left out.
SESSIONS_SQL = """
SELECT a.pid, r.rolname AS role, a.application_name,
       me.rolsuper OR (NOT r.rolsuper AND (pg_catalog.pg_has_role(me.oid, r.oid, 'USAGE')
                                           OR pg_catalog.pg_has_role(me.oid, 'pg_signal_backend', 'USAGE')))
         AS may_end
  FROM pg_catalog.pg_stat_activity a
  JOIN pg_catalog.pg_roles r ON r.oid = a.usesysid
  JOIN pg_catalog.pg_roles me ON me.rolname = current_user
 WHERE a.datid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
   AND a.pid <> pg_catalog.pg_backend_pid()
   AND (a.backend_type = 'client backend' OR a.backend_type IS NULL)
 ORDER BY a.pid
"""

TERMINATE_SQL = "SELECT pg_catalog.pg_terminate_backend(%s::integer, %s::bigint)"
STILL_OPEN_SQL = "SELECT pid FROM pg_catalog.pg_stat_activity WHERE pid = ANY(%s::integer[])"

UNFREEZE_HINT = "run `pghaul unfreeze` to make the source writable again"


class FreezeOutcome(StrEnum):
    FROZEN = "frozen"  # pghaul set the database's default_transaction_read_only to on
    ALREADY_FROZEN = "already frozen"  # the database's own setting was already on: left as it was


class UnfreezeOutcome(StrEnum):
    UNFROZEN = "unfrozen"  # the database's default_transaction_read_only setting was reset
    NOT_FROZEN = "not frozen"  # it had no such setting on: nothing changed


@dataclass(frozen=True)
class Session:
    """Another client's session on the source: who it was, never what it ran."""

    pid: int
    role: str
    application_name: str
    may_end: bool = True  # whether the freezing role may end it


def _name_sessions(sessions: tuple[Session, ...] | list[Session]) -> str:
    counts = Counter((s.role, s.application_name) for s in sessions)
    return ", ".join(
        f"{n} × {role}" + (f" ({app})" if app else "") for (role, app), n in sorted(counts.items())
    )


@dataclass(frozen=True)
class FreezeReport:
    source: str  # the server as describe_url names it: never a password
    outcome: FreezeOutcome
    ended: tuple[Session, ...]  # the other sessions freeze ended

    def describe(self) -> str:
        ended = f"ended {len(self.ended)} session(s)" + (f": {_name_sessions(self.ended)}" if self.ended else "")
        if self.outcome is FreezeOutcome.ALREADY_FROZEN:
            return (
                f"the source {self.source} was already read-only by its own database setting, left as it was "
                f"(pghaul's earlier freeze, or someone else's: unfreeze would reset it); {ended}"
            )
        return f"the source {self.source} is frozen: new sessions are read-only; {ended}"


@dataclass(frozen=True)
class UnfreezeReport:
    source: str
    outcome: UnfreezeOutcome

    def describe(self) -> str:
        if self.outcome is UnfreezeOutcome.NOT_FROZEN:
            return f"the source {self.source} was not frozen: nothing changed"
        return f"the source {self.source} is unfrozen: new sessions may write again"


@dataclass(frozen=True)
class _Database:
    name: str
    owner: str
    role: str  # the role pghaul is connected as
    may_alter: bool  # the database's owner (or a member with its privileges) or a superuser
    read_only: bool | None  # the database's own default_transaction_read_only; None: it has none


def _database(conn: psycopg.Connection) -> _Database:
    with conn.cursor(row_factory=class_row(_Database)) as cur:
        row = cur.execute(STATE_SQL).fetchone()
    assert row is not None  # the session's own database and role always exist
    return row


def _sessions(conn: psycopg.Connection) -> list[Session]:
    with conn.cursor(row_factory=class_row(Session)) as cur:
        return cur.execute(SESSIONS_SQL).fetchall()


def freeze_status(conn: psycopg.Connection) -> bool:
    """Whether the database ``conn`` is connected to is frozen (any session, read-only ones too)."""
    return _database(conn).read_only is True


def _refuse_if_not_owner(db: _Database, source: str, action: str) -> None:
    if not db.may_alter:
        raise SafetyError(
            f"the role {db.role} may not {action} the source {source}: changing the settings of database "
            f"{db.name} needs its owner ({db.owner}) or a superuser",
            f"run it again with a URL for {db.owner} or a superuser, or pause the app's writes yourself",
        )


def _refuse_before_freezing(conn: psycopg.Connection, db: _Database, source: str) -> None:
    """Every reason not to freeze, checked before anything is changed."""
    _refuse_if_not_owner(db, source, "freeze")
    if db.read_only is False:
        raise SafetyError(
            f"the database {db.name} on {source} has its own setting default_transaction_read_only = off: "
            "pghaul will not overwrite a setting someone else made (unfreeze could not restore it)",
            f"remove it with ALTER DATABASE {db.name} RESET default_transaction_read_only if nothing needs it, "
            "then run again, or pause the app's writes yourself",
        )
    writable = [row[0] for row in conn.execute(WRITABLE_ROLES_SQL)]
    if writable:
        raise SafetyError(
            f"the roles {', '.join(writable)} have their own setting default_transaction_read_only = off on "
            f"{source}, which overrides the database's: a freeze would not stop their new sessions",
            "remove it with ALTER ROLE … RESET default_transaction_read_only, then run again, or pause those "
            "roles' writes yourself",
        )
    _refuse_sessions_it_may_not_end(_sessions(conn), db, source, changed=False)


def _refuse_sessions_it_may_not_end(sessions: list[Session], db: _Database, source: str, changed: bool) -> None:
    blocked = [s for s in sessions if not s.may_end]
    if not blocked:
        return
    state = "the source is read-only for new sessions, but" if changed else "nothing was changed:"
    raise SafetyError(
        f"{state} the role {db.role} may not end {len(blocked)} other session(s) on {source}: "
        f"{_name_sessions(blocked)}",
        "close them yourself, or run freeze as a superuser (the only role that may end a superuser's session) "
        "or as a role in pg_signal_backend" + (f"; or {UNFREEZE_HINT}" if changed else ""),
    )


def _end_sessions(conn: psycopg.Connection, db: _Database, source: str) -> tuple[Session, ...]:
    """End every other client session, waiting for each; refuse loudly if one is left open."""
    sessions = _sessions(conn)
    # Sessions that appeared since the check (a superuser's, say) are named, not silently left writable.
    _refuse_sessions_it_may_not_end(sessions, db, source, changed=True)
    ended, missed = [], []
    for session in sessions:
        row = conn.execute(TERMINATE_SQL, [session.pid, TERMINATE_WAIT_MS]).fetchone()
        (ended if row == (True,) else missed).append(session)
    still_open = {r[0] for r in conn.execute(STILL_OPEN_SQL, [[s.pid for s in missed]])} if missed else set()
    if still_open:
        raise SafetyError(
            f"the source is read-only for new sessions, but {len(still_open)} session(s) on {source} did not end "
            f"within {TERMINATE_WAIT_MS // 1000} s: {_name_sessions([s for s in missed if s.pid in still_open])}",
            f"run freeze again, or end them yourself; or {UNFREEZE_HINT}",
        )
    return tuple(ended)


def freeze_source(source_url: str) -> FreezeReport:
    """Make the source database read-only for new sessions and end the other open ones (see the module doc)."""
    source = describe_url(source_url)
    with connect_source_writable(source_url) as conn:
        db = _database(conn)
        _refuse_before_freezing(conn, db, source)
        outcome = FreezeOutcome.ALREADY_FROZEN if db.read_only else FreezeOutcome.FROZEN
        if outcome is FreezeOutcome.FROZEN:
            # Committed (autocommit) before any session is ended: a session the app opens from now on is
            # read-only, and a failure below leaves a freeze that unfreeze undoes.
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(sql.Identifier(db.name))
            )
        ended = _end_sessions(conn, db, source)
    return FreezeReport(source, outcome, ended)


def unfreeze_source(source_url: str) -> UnfreezeReport:
    """Remove the database's read-only setting freeze added; says so and changes nothing when there is none."""
    source = describe_url(source_url)
    with connect_source_writable(source_url) as conn:
        db = _database(conn)
        if db.read_only is not True:
            return UnfreezeReport(source, UnfreezeOutcome.NOT_FROZEN)
        _refuse_if_not_owner(db, source, "unfreeze")
        conn.execute(
            sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(sql.Identifier(db.name))
        )
    return UnfreezeReport(source, UnfreezeOutcome.UNFROZEN)
