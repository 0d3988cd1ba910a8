"""pghaul's own bookkeeping on the target: the ``pghaul`` schema and its per-range checkpoints.

The schema holds the jobs table too (one DDL, created at once); the job row, the migration lock and the status
read from both are the engine's (:mod:`pghaul.engine.jobs`).

The checkpoint of a chunk is written in the same target transaction as the chunk's rows, so after any crash
the target holds exactly the rows its checkpoints describe: that is what makes the copy exactly-once and
resumable. The source is never written to; this schema exists only on the target.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pghaul.created_objects import CREATE_TABLE as CREATE_CREATED_OBJECTS
from pghaul.inspect.model import Table
from pghaul.state_schema import STATE_SCHEMA

# pghaul's own tables, always named through the one schema constant.
JOBS = sql.Identifier(STATE_SCHEMA, "jobs")
CHECKPOINTS = sql.Identifier(STATE_SCHEMA, "checkpoints")


def state_sql(text: str) -> sql.Composed:
    """``text`` with ``{schema}``, ``{jobs}``, ``{checkpoints}`` naming pghaul's schema and tables, and
    ``{jobs_name}``, ``{checkpoints_name}``, ``{created_objects_name}`` their names as text (for to_regclass)."""
    return sql.SQL(text).format(
        schema=sql.Identifier(STATE_SCHEMA), jobs=JOBS, checkpoints=CHECKPOINTS,
        jobs_name=sql.Literal(f"{STATE_SCHEMA}.jobs"), checkpoints_name=sql.Literal(f"{STATE_SCHEMA}.checkpoints"),
        created_objects_name=sql.Literal(f"{STATE_SCHEMA}.created_objects"),
        sync_baselines_name=sql.Literal(f"{STATE_SCHEMA}.sync_baselines"),
    )

_DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {jobs} (
    id text PRIMARY KEY,
    state text NOT NULL CHECK (state IN ('idle', 'running', 'done', 'failed')),
    phase text,
    error text,
    report jsonb,
    snapshot text,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
-- Added after the first release of this schema: targets that already have the table get the column here.
ALTER TABLE {jobs} ADD COLUMN IF NOT EXISTS hint text;
CREATE TABLE IF NOT EXISTS {checkpoints} (
    table_schema text NOT NULL,
    table_name text NOT NULL,
    range_no integer NOT NULL,
    lo text[],
    hi text[],
    last_key text[],
    overlap boolean NOT NULL DEFAULT false,
    rows_estimated bigint NOT NULL DEFAULT 0,
    rows_copied bigint NOT NULL DEFAULT 0,
    rows_skipped bigint NOT NULL DEFAULT 0,
    bytes bigint NOT NULL DEFAULT 0,
    done boolean NOT NULL DEFAULT false,
    job_id text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_schema, table_name, range_no)
);
"""


@dataclass(frozen=True)
class RangeState:
    """One key range of one table: ``(lo, hi]`` in key order, ``None`` meaning open-ended."""

    table_schema: str
    table_name: str
    range_no: int
    lo: tuple[str, ...] | None
    hi: tuple[str, ...] | None
    last_key: tuple[str, ...] | None
    overlap: bool
    rows_estimated: int
    rows_copied: int
    rows_skipped: int
    bytes: int
    done: bool

    @property
    def table(self) -> tuple[str, str]:
        return (self.table_schema, self.table_name)

    @property
    def resume_after(self) -> tuple[str, ...] | None:
        """Rows with a key above this one (and up to ``hi``) are still to be copied."""
        return self.last_key if self.last_key is not None else self.lo


def _tuple(value: list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _range_from_row(row: dict[str, Any]) -> RangeState:
    return RangeState(
        table_schema=row["table_schema"],
        table_name=row["table_name"],
        range_no=row["range_no"],
        lo=_tuple(row["lo"]),
        hi=_tuple(row["hi"]),
        last_key=_tuple(row["last_key"]),
        overlap=row["overlap"],
        rows_estimated=row["rows_estimated"],
        rows_copied=row["rows_copied"],
        rows_skipped=row["rows_skipped"],
        bytes=row["bytes"],
        done=row["done"],
    )


def state_exists(conn: psycopg.Connection) -> bool:
    row = conn.execute(state_sql("SELECT to_regclass({checkpoints_name}) IS NOT NULL")).fetchone()
    return bool(row and row[0])


# Per table, the source snapshot's xmin the target's table is known to equal (``sync/row_versions.py``). Created with
# the rest of the state, so a later run that records baselines runs no DDL.
SYNC_BASELINES = sql.Identifier(STATE_SCHEMA, "sync_baselines")
CREATE_SYNC_BASELINES = sql.SQL(
    "CREATE TABLE IF NOT EXISTS {} (table_schema text, table_name text, source_xmin bigint NOT NULL, "
    "recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (table_schema, table_name))"
).format(SYNC_BASELINES)


def _state_complete(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        state_sql("SELECT to_regclass({checkpoints_name}) IS NOT NULL"
        " AND to_regclass({sync_baselines_name}) IS NOT NULL"
        " AND to_regclass({created_objects_name}) IS NOT NULL AND EXISTS (SELECT FROM pg_catalog.pg_attribute"
        "             WHERE attrelid = to_regclass({jobs_name}) AND attname = 'hint' AND NOT attisdropped)")
    ).fetchone()
    return bool(row and row[0])


def ensure_state(conn: psycopg.Connection) -> None:
    """Create the state schema if missing (idempotent; commits on its own). No DDL runs when it is all there:
    an event trigger of the user's that refuses DDL, migrated with the schema, must not stop the next run."""
    if _state_complete(conn):
        return
    with conn.transaction():
        conn.execute(state_sql(_DDL))
        conn.execute(CREATE_CREATED_OBJECTS)
        conn.execute(CREATE_SYNC_BASELINES)


def drop_state(conn: psycopg.Connection) -> bool:
    """Remove pghaul's schema from the target (``pghaul cleanup``); True if there was one."""
    existed = state_exists(conn)
    with conn.transaction():
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(STATE_SCHEMA)))
    return existed


# --- checkpoints --------------------------------------------------------------------------------------------------


def load_ranges(conn: psycopg.Connection, table: Table) -> list[RangeState]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            state_sql("SELECT * FROM {checkpoints} WHERE table_schema = %s AND table_name = %s ORDER BY range_no"),
            (table.schema, table.name),
        )
        return [_range_from_row(r) for r in cur.fetchall()]


def create_ranges(
    conn: psycopg.Connection,
    table: Table,
    bounds: list[tuple[str, ...]],
    overlap: bool,
    rows_estimated: int,
    job_id: str | None,
) -> list[RangeState]:
    """Record the ranges a table is split into (``len(bounds) + 1`` of them), in the caller's transaction."""
    edges: list[tuple[str, ...] | None] = [None, *bounds, None]
    per_range = rows_estimated // (len(bounds) + 1)
    with conn.cursor() as cur:
        for no in range(len(bounds) + 1):
            lo, hi = edges[no], edges[no + 1]
            cur.execute(
                state_sql("INSERT INTO {checkpoints} (table_schema, table_name, range_no, lo, hi, overlap,"
                " rows_estimated, job_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"),
                (
                    table.schema, table.name, no,
                    None if lo is None else list(lo), None if hi is None else list(hi),
                    overlap, per_range, job_id,
                ),
            )
    return load_ranges(conn, table)


def record_chunk(
    conn: psycopg.Connection,
    rng: RangeState,
    last_key: tuple[str, ...] | None,
    rows_copied: int,
    rows_skipped: int,
    nbytes: int,
    done: bool,
    job_id: str | None,
) -> RangeState:
    """Advance a range's checkpoint; must run in the transaction that wrote the chunk's rows."""
    conn.execute(
        state_sql("UPDATE {checkpoints} SET last_key = %s, rows_copied = rows_copied + %s,"
        " rows_skipped = rows_skipped + %s, bytes = bytes + %s, done = %s, job_id = %s, updated_at = now()"
        " WHERE table_schema = %s AND table_name = %s AND range_no = %s"),
        (
            None if last_key is None else list(last_key), rows_copied, rows_skipped, nbytes, done, job_id,
            rng.table_schema, rng.table_name, rng.range_no,
        ),
    )
    return RangeState(
        rng.table_schema, rng.table_name, rng.range_no, rng.lo, rng.hi,
        last_key if last_key is not None else rng.last_key, rng.overlap, rng.rows_estimated,
        rng.rows_copied + rows_copied, rng.rows_skipped + rows_skipped, rng.bytes + nbytes, done,
    )


def record_whole_table(conn: psycopg.Connection, table: Table, rows: int, nbytes: int) -> None:
    """A keyless table copied whole by the one-batch endpoint; in the transaction that wrote its rows, so the
    checkpoint says exactly what pghaul put there (what it may replace when asked again)."""
    ensure_state(conn)
    conn.execute(
        state_sql("INSERT INTO {checkpoints} (table_schema, table_name, range_no, rows_estimated, rows_copied, bytes,"
        " done) VALUES (%s, %s, 0, %s, %s, %s, true) ON CONFLICT (table_schema, table_name, range_no) DO UPDATE"
        " SET rows_copied = excluded.rows_copied, rows_skipped = 0, bytes = excluded.bytes, done = true,"
        " updated_at = now()"),
        (table.schema, table.name, max(rows, table.rows_estimated), rows, nbytes),
    )


def mark_overlap(conn: psycopg.Connection, rng: RangeState) -> RangeState:
    """From now on this range's chunks go through the staging table (rows are there that pghaul did not write)."""
    conn.execute(
        state_sql("UPDATE {checkpoints} SET overlap = true, updated_at = now()"
        " WHERE table_schema = %s AND table_name = %s AND range_no = %s"),
        (rng.table_schema, rng.table_name, rng.range_no),
    )
    return dataclasses.replace(rng, overlap=True)


# Moved to pghaul.engine.jobs; still importable from here for callers that have not switched (the HTTP shell).
# Resolved lazily: pghaul.engine imports this module, so an import at the top would be circular.

