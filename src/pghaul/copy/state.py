"""pghaul's own bookkeeping on the target: the ``pghaul`` schema with jobs and per-range checkpoints.

The checkpoint of a chunk is written in the same target transaction as the chunk's rows, so after any crash
the target holds exactly the rows its checkpoints describe: that is what makes the copy exactly-once and
resumable. The source is never written to; this schema exists only on the target.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pghaul.created_objects import CREATE_TABLE as CREATE_CREATED_OBJECTS
from pghaul.inspect.model import Table
from pghaul.state_schema import STATE_SCHEMA

# One advisory lock key per target database: held by the running migration for its whole life, so a second
# migration into the same target is refused and a job left "running" by a killed process is recognised as dead.
MIGRATION_LOCK_KEY = 7_361_002_117

_DDL = """
CREATE SCHEMA IF NOT EXISTS pghaul;
CREATE TABLE IF NOT EXISTS pghaul.jobs (
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
ALTER TABLE pghaul.jobs ADD COLUMN IF NOT EXISTS hint text;
CREATE TABLE IF NOT EXISTS pghaul.checkpoints (
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
    row = conn.execute("SELECT to_regclass('pghaul.checkpoints') IS NOT NULL").fetchone()
    return bool(row and row[0])


def _state_complete(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT to_regclass('pghaul.checkpoints') IS NOT NULL AND to_regclass('pghaul.created_objects') IS NOT NULL"
        " AND EXISTS (SELECT FROM pg_catalog.pg_attribute"
        "             WHERE attrelid = to_regclass('pghaul.jobs') AND attname = 'hint' AND NOT attisdropped)"
    ).fetchone()
    return bool(row and row[0])


def ensure_state(conn: psycopg.Connection) -> None:
    """Create the state schema if missing (idempotent; commits on its own). No DDL runs when it is all there:
    an event trigger of the user's that refuses DDL, migrated with the schema, must not stop the next run."""
    if _state_complete(conn):
        return
    with conn.transaction():
        conn.execute(_DDL)  # type: ignore[arg-type]
        conn.execute(CREATE_CREATED_OBJECTS)


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
            "SELECT * FROM pghaul.checkpoints WHERE table_schema = %s AND table_name = %s ORDER BY range_no",
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
                "INSERT INTO pghaul.checkpoints (table_schema, table_name, range_no, lo, hi, overlap, rows_estimated,"
                " job_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
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
        "UPDATE pghaul.checkpoints SET last_key = %s, rows_copied = rows_copied + %s,"
        " rows_skipped = rows_skipped + %s, bytes = bytes + %s, done = %s, job_id = %s, updated_at = now()"
        " WHERE table_schema = %s AND table_name = %s AND range_no = %s",
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
        "INSERT INTO pghaul.checkpoints (table_schema, table_name, range_no, rows_estimated, rows_copied, bytes,"
        " done) VALUES (%s, %s, 0, %s, %s, %s, true) ON CONFLICT (table_schema, table_name, range_no) DO UPDATE"
        " SET rows_copied = excluded.rows_copied, rows_skipped = 0, bytes = excluded.bytes, done = true,"
        " updated_at = now()",
        (table.schema, table.name, max(rows, table.rows_estimated), rows, nbytes),
    )


def mark_overlap(conn: psycopg.Connection, rng: RangeState) -> RangeState:
    """From now on this range's chunks go through the staging table (rows are there that pghaul did not write)."""
    conn.execute(
        "UPDATE pghaul.checkpoints SET overlap = true, updated_at = now()"
        " WHERE table_schema = %s AND table_name = %s AND range_no = %s",
        (rng.table_schema, rng.table_name, rng.range_no),
    )
    return dataclasses.replace(rng, overlap=True)


def any_checkpoints(conn: psycopg.Connection) -> bool:
    if not state_exists(conn):
        return False
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM pghaul.checkpoints)").fetchone()
    return bool(row and row[0])


# --- jobs ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableStatus:
    table: str
    ranges: int
    ranges_done: int
    rows_copied: int
    rows_skipped: int
    rows_estimated: int
    bytes: int
    done: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table, "ranges": self.ranges, "rangesDone": self.ranges_done,
            "rowsCopied": self.rows_copied, "rowsSkipped": self.rows_skipped,
            "rowsEstimated": self.rows_estimated, "bytes": self.bytes, "done": self.done,
        }


@dataclass(frozen=True)
class JobStatus:
    job_id: str | None
    state: str  # idle | running | done | failed
    phase: str | None
    error: str | None
    report: dict[str, Any] | None
    started_at: str | None
    updated_at: str | None
    finished_at: str | None
    tables: list[TableStatus]
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id, "state": self.state, "phase": self.phase, "error": self.error, "hint": self.hint,
            "report": self.report, "startedAt": self.started_at, "updatedAt": self.updated_at,
            "finishedAt": self.finished_at, "tables": [t.to_dict() for t in self.tables],
        }


def new_job_id() -> str:
    return uuid.uuid4().hex


def start_job(conn: psycopg.Connection, job_id: str) -> None:
    with conn.transaction():
        conn.execute(
            "INSERT INTO pghaul.jobs (id, state, phase) VALUES (%s, 'running', 'preflight')"
            " ON CONFLICT (id) DO UPDATE SET state = 'running', phase = 'preflight', error = NULL, hint = NULL,"
            " finished_at = NULL, updated_at = now()",
            (job_id,),
        )


def set_job_phase(conn: psycopg.Connection, job_id: str, phase: str) -> None:
    with conn.transaction():
        conn.execute("UPDATE pghaul.jobs SET phase = %s, updated_at = now() WHERE id = %s", (phase, job_id))


def set_job_snapshot(conn: psycopg.Connection, job_id: str, snapshot: str | None) -> None:
    with conn.transaction():
        conn.execute("UPDATE pghaul.jobs SET snapshot = %s, updated_at = now() WHERE id = %s", (snapshot, job_id))


def finish_job(
    conn: psycopg.Connection,
    job_id: str,
    state: str,
    error: str | None,
    report: dict[str, Any] | None,
    hint: str | None = None,
) -> None:
    """Record how a job ended; ``error`` says what went wrong and ``hint`` what to do about it."""
    with conn.transaction():
        conn.execute(
            "UPDATE pghaul.jobs SET state = %s, error = %s, hint = %s, report = %s::jsonb, updated_at = now(),"
            " finished_at = now() WHERE id = %s",
            (state, error, hint, None if report is None else json.dumps(report, default=str), job_id),
        )


def fail_stale_jobs(conn: psycopg.Connection) -> list[str]:
    """Mark jobs still 'running' as failed: called only while holding the migration lock, so they are dead."""
    with conn.transaction():
        rows = conn.execute(
            "UPDATE pghaul.jobs SET state = 'failed', error = coalesce(error, 'interrupted: the process running it"
            " stopped before it finished'), finished_at = now(), updated_at = now() WHERE state = 'running'"
            " RETURNING id"
        ).fetchall()
    return [r[0] for r in rows]


def last_snapshot(conn: psycopg.Connection) -> str | None:
    row = conn.execute(
        "SELECT snapshot FROM pghaul.jobs WHERE snapshot IS NOT NULL ORDER BY started_at DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def try_lock_migration(conn: psycopg.Connection) -> bool:
    """Take the session-level migration lock on ``conn`` (autocommit); False if another process holds it."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_KEY,)).fetchone()
    return bool(row and row[0])


def migration_running(conn: psycopg.Connection) -> bool:
    """True if some session holds the migration lock (a job is really running, not just marked so)."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM"
        " pg_database WHERE datname = current_database()) AND ((classid::bigint << 32) | objid::bigint) = %s"
        " AND granted)",
        (MIGRATION_LOCK_KEY,),
    ).fetchone()
    return bool(row and row[0])


def migration_job_running(conn: psycopg.Connection) -> bool:
    """True while a whole migration runs into this target: its job is marked running and its lock is held.
    (The walk-through's post-data phase holds the lock too, but records no job: it is not counted here.)"""
    if not state_exists(conn):
        return False
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM pghaul.jobs WHERE state = 'running')").fetchone()
    return bool(row and row[0]) and migration_running(conn)


def table_statuses(conn: psycopg.Connection) -> list[TableStatus]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_schema, table_name, count(*), count(*) FILTER (WHERE done), sum(rows_copied),"
            " sum(rows_skipped), sum(rows_estimated), sum(bytes), bool_and(done)"
            " FROM pghaul.checkpoints GROUP BY 1, 2 ORDER BY 1, 2"
        )
        return [
            TableStatus(f"{r[0]}.{r[1]}", r[2], r[3], int(r[4]), int(r[5]), int(r[6]), int(r[7]), r[8])
            for r in cur.fetchall()
        ]


def read_status(conn: psycopg.Connection, job_id: str | None = None) -> JobStatus:
    """The latest job (or ``job_id``) with per-table progress; ``idle`` when pghaul never ran on this target.

    A job marked running whose process died (nobody holds the migration lock) is reported as failed.
    """
    if not state_exists(conn):
        return JobStatus(None, "idle", None, None, None, None, None, None, [])
    with conn.cursor(row_factory=dict_row) as cur:
        if job_id is None:
            cur.execute("SELECT * FROM pghaul.jobs ORDER BY started_at DESC LIMIT 1")
        else:
            cur.execute("SELECT * FROM pghaul.jobs WHERE id = %s", (job_id,))
        job = cur.fetchone()
    tables = table_statuses(conn)
    if job is None:
        return JobStatus(None, "idle", None, None, None, None, None, None, tables)
    state, error, hint = job["state"], job["error"], job.get("hint")
    if state == "running" and not migration_running(conn):
        state, error = "failed", "interrupted: the process running it stopped before it finished"
        hint = "start the migration again: it continues from the last committed chunk"

    def iso(value: Any) -> str | None:
        return None if value is None else value.isoformat()

    return JobStatus(
        job["id"], state, job["phase"], error, job["report"], iso(job["started_at"]), iso(job["updated_at"]),
        iso(job["finished_at"]), tables, hint,
    )
