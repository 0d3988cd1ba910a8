"""What follow records on the target, in pghaul's schema: the slot the copy was made in, and whether the copy
finished in that slot's snapshot.

That one fact decides what a rerun does (``follow/start.py``): a copy that finished in the snapshot of a slot that
is still there is complete — the slot holds every change since — so nothing is copied again; any other copy was
read (at least partly) in a snapshot that is gone, and the rows it holds cannot be matched with any slot.

The order of writes keeps the fact true across a kill at any point: ``copied`` is cleared (committed) before a
slot is dropped or created, and set only after every range was copied in the slot's snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from pghaul.inspect.model import Table
from pghaul.state_schema import STATE_SCHEMA

FOLLOW = sql.Identifier(STATE_SCHEMA, "follow")

_DDL = sql.SQL("""
CREATE TABLE IF NOT EXISTS {follow} (
    name text PRIMARY KEY,           -- the slot, the publication and the subscription (follow/names.py)
    source text NOT NULL,            -- the source as describe_url names it: never a password
    tables text[] NOT NULL,          -- the published tables, qualified
    include text[] NOT NULL,         -- the run's selection, for the cutover's verify
    exclude text[] NOT NULL,
    consistent_lsn pg_lsn,           -- where the slot's changes begin: the copy's snapshot
    copied boolean NOT NULL DEFAULT false,  -- every row copied in that snapshot
    subscribed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
)""").format(follow=FOLLOW)


@dataclass(frozen=True)
class FollowRecord:
    name: str
    source: str
    tables: list[str]
    include: list[str]
    exclude: list[str]
    consistent_lsn: str | None
    copied: bool

    @property
    def whole_database(self) -> bool:
        return not (self.include or self.exclude)


def _exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{STATE_SCHEMA}.follow"]).fetchone()
    return bool(row and row[0])


def load(conn: psycopg.Connection, name: str) -> FollowRecord | None:
    if not _exists(conn):
        return None
    with conn.cursor(row_factory=class_row(FollowRecord)) as cur:
        return cur.execute(sql.SQL(
            "SELECT name, source, tables, include, exclude, consistent_lsn::text AS consistent_lsn, copied"
            " FROM {} WHERE name = %s").format(FOLLOW), [name]).fetchone()


def begin(conn: psycopg.Connection, name: str, source: str, tables: list[Table], include: tuple[str, ...],
          exclude: tuple[str, ...]) -> None:
    """Record a start before its slot exists: no copy complete, no consistent point yet."""
    if not _exists(conn):  # no DDL when it is there: a user's event trigger may refuse DDL on the target
        with conn.transaction():
            conn.execute(_DDL)
    with conn.transaction():
        conn.execute(sql.SQL(
            "INSERT INTO {} AS f (name, source, tables, include, exclude) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (name) DO UPDATE SET source = excluded.source, tables = excluded.tables,"
            " include = excluded.include, exclude = excluded.exclude, consistent_lsn = NULL, copied = false,"
            " subscribed_at = NULL, updated_at = now()").format(FOLLOW),
            [name, source, sorted(t.display_name for t in tables), list(include), list(exclude)])


def _update(conn: psycopg.Connection, statement: str, values: list[object]) -> None:
    """``statement``: an ``UPDATE {} SET …`` of the follow table, with the name's placeholder last."""
    with conn.transaction():
        conn.execute(sql.SQL(statement).format(FOLLOW), values)  # type: ignore[arg-type]


def slot_created(conn: psycopg.Connection, name: str, consistent_lsn: str) -> None:
    _update(conn, "UPDATE {} SET consistent_lsn = %s::pg_lsn, copied = false, updated_at = now() WHERE name = %s",
            [consistent_lsn, name])


def copy_complete(conn: psycopg.Connection, name: str) -> None:
    _update(conn, "UPDATE {} SET copied = true, updated_at = now() WHERE name = %s", [name])


def copy_voided(conn: psycopg.Connection, name: str) -> None:
    """Before the slot is dropped: the rows no longer match any slot."""
    if _exists(conn):
        _update(conn, "UPDATE {} SET copied = false, consistent_lsn = NULL, subscribed_at = NULL, updated_at = now()"
                " WHERE name = %s", [name])


def subscribed(conn: psycopg.Connection, name: str) -> None:
    _update(conn, "UPDATE {} SET subscribed_at = coalesce(subscribed_at, now()), updated_at = now() WHERE name = %s",
            [name])


def forget(conn: psycopg.Connection, name: str) -> None:
    """Follow is over (cut over or stopped): its record goes with its objects."""
    if _exists(conn):
        with conn.transaction():
            conn.execute(sql.SQL("DELETE FROM {} WHERE name = %s").format(FOLLOW), [name])
