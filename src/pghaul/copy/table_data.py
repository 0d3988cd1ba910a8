"""Copying one key range of one table, chunk by chunk, each chunk committed together with its checkpoint.

Three ways a chunk lands on the target, all in one target transaction with the checkpoint:
- straight COPY into the table, when the range started on an empty table (nothing there can collide);
- COPY into a temporary staging table, then ``INSERT … SELECT … ON CONFLICT DO NOTHING``, when rows may already
  be there (the table had rows before pghaul's checkpoints, or the one-batch endpoint); counts inserted/skipped;
- the whole table at once for a table without a primary key, its checkpoint marked done in the same transaction.

A keyless table has no key to tell rows apart, so pghaul only ever fills it while it is empty, or replaces rows its
own checkpoints say it copied (the one-batch endpoint asked again); rows it did not write are never deleted: the
copy is refused and the user decides (``refuse_rows_not_from_pghaul``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from pghaul.copy import state
from pghaul.copy.keyset import Key, Keyset, column_list, table_ident
from pghaul.copy.rate_limit import RateLimit
from pghaul.copy.state import RangeState
from pghaul.copy.stream import StreamResult, pump, select_query
from pghaul.errors import RESUME_HINT, Cancelled, PghaulError, SafetyError
from pghaul.inspect.model import Column, Table

STAGING_TABLE = sql.Identifier("pg_temp", "pghaul_stage")


def stage_rows(
    src: psycopg.Connection, tgt: psycopg.Connection, table: Table, columns: tuple[Column, ...],
    select: sql.Composable, params: list[str | None] | list[str], binary: bool, into: sql.Identifier = STAGING_TABLE,
    rate: RateLimit | None = None,
) -> StreamResult:
    """``select`` (run on ``src``) streamed into a temporary table on ``tgt`` shaped like ``columns`` of the target's
    ``table`` (so in the target's types), dropped when the caller's target transaction commits."""
    tgt.execute(
        sql.SQL("CREATE TEMPORARY TABLE {into} ON COMMIT DROP AS SELECT {cols} FROM ONLY {table} WITH NO DATA")
        .format(into=into, cols=column_list(columns), table=table_ident(table))
    )
    return pump(src, tgt, select, params, into, columns, binary, rate)  # type: ignore[arg-type]


# The one cancellation error, under the name callers have imported from here.
CopyCancelled = Cancelled


@dataclass(frozen=True)
class ChunkResult:
    inserted: int
    skipped: int
    bytes: int
    last_key: Key | None


def target_has_rows(tgt: psycopg.Connection, table: Table) -> bool:
    row = tgt.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM ONLY {})").format(table_ident(table))).fetchone()
    return bool(row and row[0])


def check_key_on_target(table: Table, target_table: Table | None) -> None:
    """Refuse a copy that would have to tell rows already on the target from new ones without the key that
    does it: ``INSERT … ON CONFLICT DO NOTHING`` with no unique key on the target inserts every row again."""
    if not table.primary_key or target_table is None or target_table.primary_key == table.primary_key:
        return
    columns = ", ".join(table.primary_key)
    raise SafetyError(
        f"table {table.display_name} lacks its primary key ({columns}) on the target, so rows already there could "
        "not be told from the ones being copied and would be added twice",
        f"add PRIMARY KEY ({columns}) to the target table (or empty it there), then run again",
    )


def filled_by_pghaul(tgt: psycopg.Connection, table: Table) -> bool:
    """Whether pghaul's checkpoints say it copied this table whole (rows and checkpoint commit together)."""
    if not state.state_exists(tgt):
        return False
    ranges = state.load_ranges(tgt, table)
    return bool(ranges) and all(r.done for r in ranges)


def refuse_rows_not_from_pghaul(table: Table) -> None:
    """A keyless table holds rows pghaul's checkpoints do not account for: copying it whole would mean deleting
    them (firing the target's DELETE triggers and cascades) or adding every row again."""
    raise SafetyError(
        f"table {table.display_name} has no primary key and already has rows on the target that pghaul did not "
        "copy (its checkpoints do not say it filled that table); pghaul copies such a table whole and never "
        "deletes rows it did not write",
        f"if those rows may go, empty the table on the target (TRUNCATE {table.display_name}) and run again; if "
        "they are yours, migrate into an empty target, or leave that table out",
    )


def _identity_override(table: Table) -> sql.SQL:
    # INSERT refuses values for GENERATED ALWAYS identity columns unless told to keep them (COPY does not care).
    if any(c.identity == "a" for c in table.copy_columns):
        return sql.SQL(" OVERRIDING SYSTEM VALUE")
    return sql.SQL("")


def copy_staged(
    src: psycopg.Connection, tgt: psycopg.Connection, table: Table, where: sql.Composable, params: list[str],
    binary: bool, rate: RateLimit | None = None,
) -> ChunkResult:
    """Rows matching ``where`` through a staging table; inserts only those whose key is not there yet.

    Must run inside a target transaction (the staging table is dropped at its commit).
    """
    cols = table.copy_columns
    moved = stage_rows(src, tgt, table, cols, select_query(table, cols, where), params, binary, rate=rate)
    cur = tgt.execute(
        sql.SQL("INSERT INTO {table} ({cols}){override} SELECT {cols} FROM {stage} ON CONFLICT DO NOTHING").format(
            table=table_ident(table), cols=column_list(cols), override=_identity_override(table), stage=STAGING_TABLE
        )
    )
    inserted = max(cur.rowcount, 0)
    return ChunkResult(inserted, moved.rows - inserted, moved.bytes, None)


def copy_direct(
    src: psycopg.Connection, tgt: psycopg.Connection, table: Table, where: sql.Composable, params: list[str],
    binary: bool, rate: RateLimit | None = None,
) -> ChunkResult:
    cols = table.copy_columns
    moved = pump(src, tgt, select_query(table, cols, where), params, table_ident(table), cols, binary, rate)
    return ChunkResult(moved.rows, 0, moved.bytes, None)


ProgressCallback = Callable[[int, int, int], None]  # inserted, skipped, bytes of one committed chunk


def value_refused(table: Table, exc: psycopg.errors.DataError) -> PghaulError:
    """A value the target's types refuse (out of range there, or one PostgreSQL stored but cannot read back):
    the table and column named, instead of the driver's bare error. The chunk rolled back whole."""
    reason = (exc.diag.message_primary or str(exc)).strip()
    context = (exc.diag.context or "").strip().splitlines()
    where = f" ({context[0]})" if context else ""
    return PghaulError(
        f"the target refused a value in table {table.display_name}: {reason}{where}",
        f"fix that value on the source, or leave the table out with --exclude {table.display_name}; the rows "
        "copied before it are kept, and the same command continues from there")


def copy_range(
    src: psycopg.Connection,
    tgt: psycopg.Connection,
    table: Table,
    rng: RangeState,
    *,
    binary: bool,
    chunk_rows: int,
    job_id: str | None,
    on_chunk: ProgressCallback,
    should_stop: Callable[[], bool] = lambda: False,
    rate: RateLimit | None = None,
) -> RangeState:
    """Copy what is left of ``rng`` (``tgt`` in autocommit mode; ``src`` inside its snapshot transaction), reading
    the source within ``rate`` when given."""
    if not table.primary_key:
        return copy_whole_table(src, tgt, table, rng, binary=binary, job_id=job_id, on_chunk=on_chunk, rate=rate)
    keyset = Keyset.of(table)
    while not rng.done:
        if should_stop():
            raise Cancelled(f"stopped while copying {table.display_name}", RESUME_HINT)
        after = rng.resume_after
        end = keyset.chunk_end(src, after, rng.hi, chunk_rows)
        try:
            with tgt.transaction():
                if end is None:
                    rng = state.record_chunk(tgt, rng, None, 0, 0, 0, True, job_id)
                    break
                where, params = keyset.where(after, end)
                chunk = (copy_staged if rng.overlap else copy_direct)(src, tgt, table, where, params, binary, rate)
                # Fewer rows than asked for means nothing is left up to the range's upper bound in this snapshot.
                done = chunk.inserted + chunk.skipped < chunk_rows
                rng = state.record_chunk(tgt, rng, end, chunk.inserted, chunk.skipped, chunk.bytes, done, job_id)
        except psycopg.errors.UniqueViolation:
            if rng.overlap:
                raise
            # Someone else wrote into the range since it was recorded (e.g. the one-batch endpoint): the chunk
            # rolled back whole; from here on the range goes through the staging table.
            with tgt.transaction():
                rng = state.mark_overlap(tgt, rng)
            continue
        on_chunk(chunk.inserted, chunk.skipped, chunk.bytes)
    return rng


def copy_all_rows(
    src: psycopg.Connection, tgt: psycopg.Connection, table: Table, binary: bool, *, replace_own: bool,
    rate: RateLimit | None = None,
) -> ChunkResult:
    """Every row of ``table``, in the caller's target transaction. Rows already on the target are deleted first
    only when they are pghaul's own earlier copy (``replace_own``); any others are refused before a write."""
    if target_has_rows(tgt, table):
        if not replace_own:
            refuse_rows_not_from_pghaul(table)
        tgt.execute(sql.SQL("DELETE FROM ONLY {}").format(table_ident(table)))
    return copy_direct(src, tgt, table, sql.SQL("true"), [], binary, rate)


def copy_whole_table(
    src: psycopg.Connection,
    tgt: psycopg.Connection,
    table: Table,
    rng: RangeState,
    *,
    binary: bool,
    job_id: str | None,
    on_chunk: ProgressCallback,
    rate: RateLimit | None = None,
) -> RangeState:
    """A table without a primary key, in one transaction with its checkpoint: a crash leaves it as it was."""
    if rng.done:
        return rng
    with tgt.transaction():
        # Not done, so rows already there are not pghaul's (they would have committed with the checkpoint).
        chunk = copy_all_rows(src, tgt, table, binary, replace_own=False, rate=rate)
        rng = state.record_chunk(tgt, rng, None, chunk.inserted, 0, chunk.bytes, True, job_id)
    on_chunk(chunk.inserted, 0, chunk.bytes)
    return rng
