"""One moment in time for every reader: a snapshot exported by one source transaction and imported by the others.

The exporting transaction must stay open while any reader imports its snapshot (pgcopydb ``snapshot.c``); a
killed run loses it, so a resumed run reads a new one and says so.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from pghaul.connect import connect_source


class SnapshotHolder:
    """Keeps a REPEATABLE READ read-only source transaction open and its exported snapshot id available."""

    def __init__(self, source_url: str) -> None:
        self.conn = connect_source(source_url, autocommit=False)
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.conn.read_only = True
        self.snapshot_id: str | None = None
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
            return conn, True
        except psycopg.Error:
            conn.rollback()
    conn.execute("SELECT 1")  # start the transaction now, so all of this reader's chunks see one snapshot
    return conn, False


def snapshot_importable(source_url: str, snapshot_id: str | None) -> bool:
    if not snapshot_id:
        return False
    conn, imported = open_reader(source_url, snapshot_id)
    conn.rollback()
    conn.close()
    return imported
