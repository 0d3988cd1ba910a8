"""One moment in time for every reader: a snapshot exported by one source transaction and imported by the others.

The exporting transaction must stay open while any reader imports its snapshot (pgcopydb ``snapshot.c``); a
killed run loses it, so a resumed run reads a new one and says so.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from pghaul.connect import connect_source


class SnapshotHolder:
    """Keeps a REPEATABLE READ read-only source transaction open and its exported snapshot id available.

    With ``imported``, the transaction takes that snapshot (another session's export: a replication slot's, for
    follow) and exports it again, so readers import the very same moment while only this session has to stay
    open; an ``imported`` snapshot that cannot be taken raises.
    """

    def __init__(self, source_url: str, imported: str | None = None) -> None:
        self.conn = connect_source(source_url, autocommit=False)
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.conn.read_only = True
        self.snapshot_id: str | None = None
        if imported is not None:
            try:
                # SET TRANSACTION SNAPSHOT takes no bind parameters; the id comes from the server that exported it.
                self.conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(imported)))
            except BaseException:
                self.conn.close()
                raise
        try:
            row = self.conn.execute("SELECT pg_export_snapshot()").fetchone()
            self.snapshot_id = row[0] if row else None
        except psycopg.Error:
            # Some servers refuse to export (e.g. a standby during recovery on old versions): readers then
            # each take their own snapshot, and the engine reports that the copy is not one moment in time.
            self.conn.rollback()

    def close(self) -> None:
        try:
            self.conn.rollback()
        finally:
            self.conn.close()


# Key values are checkpointed as text and cast back later, maybe in another session: output styles are pinned so
# the text reads back the same whatever the server's defaults. row_security off makes a table that policies would
# filter for this user fail loudly instead of copying only the rows the policies let through (as pg_dump does).
READER_SETTINGS = (
    ("datestyle", "ISO, YMD"), ("intervalstyle", "postgres"), ("extra_float_digits", "3"), ("row_security", "off"),
)


def pin_reader_settings(conn: psycopg.Connection, *, transaction_only: bool = False) -> None:
    for name, value in READER_SETTINGS:
        conn.execute("SELECT set_config(%s, %s, %s)", (name, value, transaction_only))


def open_reader(source_url: str, snapshot_id: str | None) -> tuple[psycopg.Connection, bool]:
    """A source connection inside a REPEATABLE READ read-only transaction, on ``snapshot_id`` if it can be imported.

    Returns the connection and whether the snapshot was imported.
    """
    conn = connect_source(source_url, autocommit=False)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    if snapshot_id:
        try:
            # SET TRANSACTION SNAPSHOT takes no bind parameters; the id comes from pg_export_snapshot().
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_id)))
            pin_reader_settings(conn)
            return conn, True
        except psycopg.Error:
            conn.rollback()
    pin_reader_settings(conn)  # also starts the transaction, so all of this reader's chunks see one snapshot
    return conn, False


def snapshot_importable(source_url: str, snapshot_id: str | None) -> bool:
    if not snapshot_id:
        return False
    conn, imported = open_reader(source_url, snapshot_id)
    conn.rollback()
    conn.close()
    return imported
