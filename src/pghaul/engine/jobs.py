"""A run's record on the target: the job row, the migration lock, and the status read from both.

The job row says which phase a run is in and how it ended, so ``db-status`` (and a restarted server) can tell;
the advisory lock says whether its process is alive. Checkpoints, which the status sums per table, are
:mod:`pghaul.copy.state`'s.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pghaul.copy.state import state_exists, state_sql
from pghaul.errors import SafetyError
from pghaul.kinds import Phase

# One advisory lock key per target database: held by the running migration for its whole life, so a second
# migration into the same target is refused and a job left "running" by a killed process is recognised as dead.
MIGRATION_LOCK_KEY = 7_361_002_117

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
            state_sql("INSERT INTO {jobs} (id, state, phase) VALUES (%s, 'running', 'preflight')"
            " ON CONFLICT (id) DO UPDATE SET state = 'running', phase = 'preflight', error = NULL, hint = NULL,"
            " finished_at = NULL, updated_at = now()"),
            (job_id,),
        )


def set_job_phase(conn: psycopg.Connection, job_id: str, phase: Phase) -> None:
    with conn.transaction():
        conn.execute(state_sql("UPDATE {jobs} SET phase = %s, updated_at = now() WHERE id = %s"), (phase, job_id))


def set_job_snapshot(conn: psycopg.Connection, job_id: str, snapshot: str | None) -> None:
    with conn.transaction():
        conn.execute(state_sql("UPDATE {jobs} SET snapshot = %s, updated_at = now() WHERE id = %s"), (snapshot, job_id))


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
            state_sql("UPDATE {jobs} SET state = %s, error = %s, hint = %s, report = %s::jsonb, updated_at = now(),"
            " finished_at = now() WHERE id = %s"),
            (state, error, hint, None if report is None else json.dumps(report, default=str), job_id),
        )


def note_retry(conn: psycopg.Connection, job_id: str, message: str) -> None:
    """Between two runs of a retried job (its migration lock held by the retry): running again soon, and why."""
    with conn.transaction():
        conn.execute(
            state_sql("UPDATE {jobs} SET state = 'running', error = NULL, hint = %s, finished_at = NULL,"
            " updated_at = now() WHERE id = %s"),
            (message, job_id),
        )


def fail_stale_jobs(conn: psycopg.Connection) -> list[str]:
    """Mark jobs still 'running' as failed: called only while holding the migration lock, so they are dead."""
    with conn.transaction():
        rows = conn.execute(
            state_sql("UPDATE {jobs} SET state = 'failed', error = coalesce(error, 'interrupted: the process running it"
            " stopped before it finished'), finished_at = now(), updated_at = now() WHERE state = 'running'"
            " RETURNING id")
        ).fetchall()
    return [r[0] for r in rows]


def last_snapshot(conn: psycopg.Connection) -> str | None:
    row = conn.execute(
        state_sql("SELECT snapshot FROM {jobs} WHERE snapshot IS NOT NULL ORDER BY started_at DESC LIMIT 1")
    ).fetchone()
    return row[0] if row else None


def try_lock_migration(conn: psycopg.Connection) -> bool:
    """Take the session-level migration lock on ``conn`` (autocommit); False if another process holds it."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_KEY,)).fetchone()
    return bool(row and row[0])


def unlock_migration(conn: psycopg.Connection) -> None:
    """Let go of the migration lock ``conn`` holds, at once (a closed session's backend lets go a moment later)."""
    conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


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
    row = conn.execute(state_sql("SELECT EXISTS (SELECT 1 FROM {jobs} WHERE state = 'running')")).fetchone()
    return bool(row and row[0]) and migration_running(conn)


def table_statuses(conn: psycopg.Connection) -> list[TableStatus]:
    with conn.cursor() as cur:
        cur.execute(
            state_sql("SELECT table_schema, table_name, count(*), count(*) FILTER (WHERE done), sum(rows_copied),"
            " sum(rows_skipped), sum(rows_estimated), sum(bytes), bool_and(done)"
            " FROM {checkpoints} GROUP BY 1, 2 ORDER BY 1, 2")
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
            cur.execute(state_sql("SELECT * FROM {jobs} ORDER BY started_at DESC LIMIT 1"))
        else:
            cur.execute(state_sql("SELECT * FROM {jobs} WHERE id = %s"), (job_id,))
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


def lock_target(tgt: psycopg.Connection) -> None:
    """Take the target's migration lock for this session (a migration, or a post-data phase), or refuse: two of
    them at once would build the same indexes, or copy rows under constraints being created."""
    if not try_lock_migration(tgt):
        raise SafetyError(
            "another pghaul migration into this target is running",
            "wait for it to finish (see `db-status`), or stop it before starting again",
        )
