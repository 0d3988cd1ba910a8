"""Follow's two objects on the source: the logical replication slot and the publication.

The slot is what makes follow lose nothing: created with an exported snapshot, every transaction committed before
its consistent point is visible in that snapshot, and every one committed after is decoded from it — the copy
reads the snapshot, the subscription applies what the slot decodes, and no change is in both or in neither
(pgcopydb's ``--follow`` starts the same way). The slot also keeps the source's WAL from its position on until it
is dropped: a slot left behind fills the source's disk, so everything that leaves one says so.

The publication comes *before* the slot. pgoutput looks a publication up in the catalog as of each change it
decodes; a change committed after the slot's consistent point but before ``CREATE PUBLICATION`` would be decoded
without it and skipped (PostgreSQL 18 warns ``skipped loading publication``; older servers fail). Created first,
it is there for every change the slot decodes.

It names the run's tables one by one (``FOR TABLE``), for a whole-database run too, rather than ``FOR ALL
TABLES``: a table created on the source later (DDL is not replicated) would be published too, and its first
change would stop the subscription on the target, where the table does not exist — so ``FOR TABLE`` lets the
cutover's verify name the new table instead of replication breaking. It also needs only the tables' ownership,
where ``FOR ALL TABLES`` needs a superuser, and it never publishes a table the run left out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from pghaul.errors import SafetyError
from pghaul.inspect.model import Table

# When the subscription that used the slot was just disabled, its WAL sender needs a moment to exit.
SLOT_RELEASE_SECONDS = 30.0
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class SlotCreated:
    name: str
    consistent_lsn: str  # where decoding starts: the copy's snapshot sees everything committed before it
    snapshot: str  # importable only while the replication connection that created the slot stays open and idle


@dataclass(frozen=True)
class SlotInfo:
    name: str
    active: bool
    active_pid: int | None
    wal_status: str | None  # reserved, extended, unreserved, lost (lost: invalidated, its changes are gone)
    confirmed_flush_lsn: str | None  # what the subscriber confirmed having applied and flushed
    lag_bytes: int | None  # WAL written on the source since that position
    retained_bytes: int | None  # WAL the slot keeps on the source's disk

    @property
    def lost(self) -> bool:
        return self.wal_status == "lost"


SLOT_SQL = """
SELECT slot_name AS name, active, active_pid, wal_status, confirmed_flush_lsn::text AS confirmed_flush_lsn,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS lag_bytes,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint AS retained_bytes
  FROM pg_catalog.pg_replication_slots
 WHERE slot_name = {name}
"""


def slot_info(conn: psycopg.Connection, name: str) -> SlotInfo | None:
    """The slot as the source sees it now, or None. Any session on the source (replication ones included: the
    query is sent with its values inlined, as a replication connection's simple protocol wants)."""
    query = sql.SQL(SLOT_SQL).format(name=sql.Literal(name))
    with conn.cursor(row_factory=class_row(SlotInfo)) as cur:
        return cur.execute(query, prepare=False).fetchone()


def create_slot(repl: psycopg.Connection, name: str) -> SlotCreated:
    """Create the slot on a replication connection, exporting its snapshot (valid while ``repl`` stays idle)."""
    if repl.info.server_version >= 150000:
        command = sql.SQL("CREATE_REPLICATION_SLOT {} LOGICAL pgoutput (SNAPSHOT 'export')")
    else:
        command = sql.SQL("CREATE_REPLICATION_SLOT {} LOGICAL pgoutput EXPORT_SNAPSHOT")
    row = repl.execute(command.format(sql.Identifier(name)), prepare=False).fetchone()
    assert row is not None  # the command always answers one row: name, consistent point, snapshot, plugin
    return SlotCreated(str(row[0]), str(row[1]), str(row[2]))


def drop_slot(repl: psycopg.Connection, name: str, wait_seconds: float = SLOT_RELEASE_SECONDS) -> bool:
    """Drop the slot once no WAL sender uses it (the subscription's exits shortly after it is disabled); True if
    there was one. Refuses, naming the process, when it is still in use after ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    while True:
        slot = slot_info(repl, name)
        if slot is None:
            return False
        if not slot.active:
            break
        if time.monotonic() > deadline:
            raise SafetyError(
                f"the replication slot {name} on the source is still in use by process {slot.active_pid}",
                "disable the subscription that reads it (on the target: ALTER SUBSCRIPTION "
                f"{name} DISABLE), then run this again; the slot keeps the source's WAL until it is dropped")
        time.sleep(_POLL_SECONDS)
    repl.execute(sql.SQL("DROP_REPLICATION_SLOT {}").format(sql.Identifier(name)), prepare=False)
    return True


class PublicationChange(StrEnum):
    CREATED = "created"
    ALTERED = "altered"  # its tables set to the run's (an earlier run selected others)
    UNCHANGED = "unchanged"


def publication_tables(conn: psycopg.Connection, name: str) -> set[tuple[str, str]] | None:
    """The tables the publication names, or None when there is no such publication."""
    exists = conn.execute("SELECT EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = %s)", [name])
    if not exists.fetchone()[0]:  # type: ignore[index]
        return None
    rows = conn.execute("SELECT schemaname, tablename FROM pg_catalog.pg_publication_tables WHERE pubname = %s",
                        [name]).fetchall()
    return {(str(r[0]), str(r[1])) for r in rows}


def ensure_publication(conn: psycopg.Connection, name: str, tables: list[Table]) -> PublicationChange:
    """The publication of exactly ``tables``, on the writable source session ``conn``."""
    wanted = {t.key for t in tables}
    names = sql.SQL(", ").join(sql.Identifier(*key) for key in sorted(wanted))
    existing = publication_tables(conn, name)
    if existing is None:
        conn.execute(sql.SQL("CREATE PUBLICATION {}").format(sql.Identifier(name))
                     + (sql.SQL(" FOR TABLE {}").format(names) if wanted else sql.SQL("")))
        return PublicationChange.CREATED
    if existing == wanted:
        return PublicationChange.UNCHANGED
    if wanted:
        conn.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(sql.Identifier(name), names))
    else:
        conn.execute(sql.SQL("ALTER PUBLICATION {} DROP TABLE {}").format(
            sql.Identifier(name), sql.SQL(", ").join(sql.Identifier(*key) for key in sorted(existing))))
    return PublicationChange.ALTERED


def drop_publication(conn: psycopg.Connection, name: str) -> bool:
    """Drop the publication on the writable source session ``conn``; True if there was one."""
    existed = publication_tables(conn, name) is not None
    conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(name)))
    return existed
