"""Finding changes through the source's row versions (``xmin``) instead of checksums, where that is sound.

Every INSERT and UPDATE writes a row version stamped with its transaction's id (``xmin``); a row left alone
keeps its old stamp. So, when the target's table is known to equal the source's as of a snapshot ``S`` (its
*baseline*, recorded on the target when a sync or a verified migrate established it), the rows inserted or
updated since are exactly those whose ``xmin`` is not older than ``S``'s xmin (the oldest transaction ``S`` does
not see) (a few older ones visible in
``S`` come along, harmlessly: their upsert changes nothing). They are found in one scan that reads no column
values, and are upserted. Deletes leave no row to see: after the upserts the target holds every source key,
plus the deleted ones, so per-range key counts (no hashing) narrow down where the target has more, and those
ranges lose the keys the source no longer has.

"Not older than S" is ``age(xmin) <= age(S.xmin)``: both ages are taken from the same transaction, in 32 bits,
so it holds while fewer than 2^31 transactions separate S from now (checked with 64-bit ids; otherwise, and
whenever a table has no baseline or ``--full`` is asked for, the checksums decide). A frozen row is old to
``age()``. What it cannot see: a change made on the target behind pghaul's back, and a column added on the
source with a default (no row is rewritten): a table whose columns sync adds loses its baseline.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from pghaul.copy.keyset import column_list, key_equality, table_ident
from pghaul.copy.rate_limit import RateLimit
from pghaul.copy.state import CREATE_SYNC_BASELINES, SYNC_BASELINES
from pghaul.copy.table_data import stage_rows
from pghaul.inspect.model import Table
from pghaul.sync.narrow import WHOLE_TABLE
from pghaul.sync.options import SyncOptions
from pghaul.sync.replace import RangeChange, upsert_staged
from pghaul.verify.checksum import KeyBounds, choose_boundaries, differing_ranges, key_range_condition, range_sums

BASELINES = SYNC_BASELINES
# Up to this many rows, the deletes are found by comparing every key at once (see ranges_with_deletes).
WHOLE_KEY_COMPARE_ROWS = 2_000_000
# Stay far from the 2^31 horizon where 32-bit ages turn around.
MAX_AGE = 2**31 - 10_000_000


def snapshot_xmin(conn: psycopg.Connection) -> int:
    """The 64-bit xmin of the snapshot ``conn``'s transaction reads in (txid_* exist on every version)."""
    row = conn.execute("SELECT pg_catalog.txid_snapshot_xmin(pg_catalog.txid_current_snapshot())").fetchone()
    assert row is not None
    return int(row[0])


def usable(src: psycopg.Connection, baseline: int | None) -> bool:
    """Whether ages from the source's current snapshot can still tell rows newer than ``baseline``."""
    if baseline is None:
        return False
    row = src.execute("SELECT pg_catalog.txid_snapshot_xmax(pg_catalog.txid_current_snapshot())").fetchone()
    assert row is not None
    return 0 <= int(row[0]) - baseline < MAX_AGE


def _newer(baseline: int) -> sql.Composable:
    # <=: S's xmin is the oldest transaction S does not see, so the first one to write after S may have that id.
    return sql.SQL("pg_catalog.age(xmin) <= pg_catalog.age({}::text::pg_catalog.xid)").format(
        sql.Literal(baseline % 2**32))


# --- baselines on the target -------------------------------------------------------------------------------------

def ensure_baselines(tgt: psycopg.Connection) -> None:
    row = tgt.execute("SELECT pg_catalog.to_regclass(%s) IS NOT NULL", (BASELINES.as_string(tgt),)).fetchone()
    if row and row[0]:
        return
    # Created with the state schema; a target whose state predates it gets the table here, once. The schema is
    # there (sync runs only on a migrated target): creating it again would need CREATE on the database.
    with tgt.transaction():
        tgt.execute(CREATE_SYNC_BASELINES)


def load_baselines(tgt: psycopg.Connection) -> dict[tuple[str, str], int]:
    row = tgt.execute("SELECT pg_catalog.to_regclass(%s) IS NOT NULL", (BASELINES.as_string(tgt),)).fetchone()
    if not (row and row[0]):
        return {}
    rows = tgt.execute(sql.SQL("SELECT table_schema, table_name, source_xmin FROM {}").format(BASELINES)).fetchall()
    return {(r[0], r[1]): int(r[2]) for r in rows}


def record_baselines(tgt: psycopg.Connection, tables: list[Table], xmin: int | None) -> None:
    """The tables now equal the source as of a snapshot whose xmin is ``xmin`` (None: unknown, forget them)."""
    ensure_baselines(tgt)
    keys = [[t.schema for t in tables], [t.name for t in tables]]
    with tgt.transaction():
        tgt.execute(sql.SQL("DELETE FROM {} WHERE (table_schema, table_name) IN "
                            "(SELECT * FROM unnest(%s::text[], %s::text[]))").format(BASELINES), keys)
        if xmin is not None:
            tgt.execute(sql.SQL("INSERT INTO {} (table_schema, table_name, source_xmin) "
                                "SELECT s, n, %s FROM unnest(%s::text[], %s::text[]) AS u(s, n)").format(BASELINES),
                        [xmin, *keys])


# --- finding and applying changes --------------------------------------------------------------------------------

def has_newer(src: psycopg.Connection, table: Table, baseline: int) -> bool:
    row = src.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM ONLY {} WHERE {})").format(
        table_ident(table), _newer(baseline))).fetchone()
    return bool(row and row[0])


def upsert_newer(src: psycopg.Connection, tgt: psycopg.Connection, table: Table, baseline: int,
                 binary: bool, rate: RateLimit | None = None) -> RangeChange:
    """Every source row written since ``baseline``, upserted (inside the caller's target transaction)."""
    cols = table.copy_columns
    select = sql.SQL("SELECT {cols} FROM ONLY {table} WHERE {newer}").format(
        cols=column_list(cols), table=table_ident(table), newer=_newer(baseline))
    if stage_rows(src, tgt, table, cols, select, [], binary, rate=rate).rows == 0:
        return RangeChange()
    inserted, updated = upsert_staged(tgt, table)
    return RangeChange(inserted, updated, 0)


def delete_gone(src: psycopg.Connection, tgt: psycopg.Connection, table: Table, within: KeyBounds,
                rate: RateLimit | None = None) -> int:
    """Target rows in ``within`` whose key the source no longer has, deleted (inside the caller's transaction)."""
    keys = tuple(table.column(name) for name in table.primary_key)
    where, params = key_range_condition(table, *within)
    select = sql.SQL("SELECT {keys} FROM ONLY {table} WHERE {where}").format(
        keys=column_list(keys), table=table_ident(table), where=where)
    stage = sql.Identifier("pg_temp", "pghaul_keys")
    stage_rows(src, tgt, table, keys, select, params, binary=False, into=stage, rate=rate)
    cur = tgt.execute(sql.SQL("DELETE FROM ONLY {table} AS t WHERE {where} AND NOT EXISTS "
                              "(SELECT 1 FROM {stage} AS s WHERE {same})").format(
        table=table_ident(table), where=where, stage=stage, same=key_equality(keys, "s", "t")), params)
    return max(cur.rowcount, 0)


def ranges_with_deletes(src: psycopg.Connection, tgt: psycopg.Connection, table: Table, source_rows: int,
                        target_rows: int, options: SyncOptions) -> tuple[int, list[KeyBounds]]:
    """Key ranges where the target holds more keys than the source (counts only), narrowed like checksums; or
    the whole table when comparing every key at once costs less: one scan of the keys, where narrowing scans
    them once per level and pays only when a big table lost few rows in few places."""
    if source_rows <= WHOLE_KEY_COMPARE_ROWS or (target_rows - source_rows) * options.leaf_rows * 4 >= source_rows:
        return 1, [WHOLE_TABLE]
    compared, leaves = 0, []
    todo: list[tuple[KeyBounds, int]] = [(WHOLE_TABLE, source_rows)]
    while todo:
        bounds, rows = todo.pop()
        parts = min(options.fanout, max(1, -(-rows // max(1, options.leaf_rows))))
        boundaries = choose_boundaries(src, table, rows, parts, bounds)
        ours = range_sums(src, table, boundaries, bounds, hashed=False)
        theirs = range_sums(tgt, table, boundaries, bounds, hashed=False)
        compared += len(boundaries) + 1
        for i in differing_ranges(ours, theirs, len(boundaries) + 1):
            sub = (boundaries[i - 1] if i > 0 else bounds[0], boundaries[i] if i < len(boundaries) else bounds[1])
            if ours.range(i).rows <= options.leaf_rows or not boundaries:
                leaves.append(sub)
            else:
                todo.append((sub, ours.range(i).rows))
    return compared, leaves
