"""Replacing one key range of one table on the target with the source's rows, in one target transaction.

The source's rows of the range are streamed into a temporary staging table (COPY, never decoded), then:
- rows of the range whose key the source no longer has are deleted;
- the staged rows are upserted: new keys inserted, existing ones updated only where the row's text differs
  (the text the checksums hash), so an unchanged row is not rewritten.
All of it commits at once, or not at all: a kill leaves the range as it was, and the next sync compares it again.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from pghaul.copy.keyset import column_list, key_equality, table_ident
from pghaul.copy.rate_limit import RateLimit
from pghaul.copy.stream import pump, select_query
from pghaul.copy.table_data import STAGING_TABLE, stage_rows
from pghaul.inspect.model import Column, Table
from pghaul.verify.checksum import KeyBounds, key_range_condition


@dataclass(frozen=True)
class RangeChange:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    def __add__(self, other: RangeChange) -> RangeChange:
        return RangeChange(self.inserted + other.inserted, self.updated + other.updated, self.deleted + other.deleted)


def _row_text(columns: tuple[Column, ...], relation: str) -> sql.Composable:
    fields = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(relation, c.name)) for c in columns)
    return sql.SQL("ROW({})::text").format(fields)


def _stage(src: psycopg.Connection, tgt: psycopg.Connection, table: Table, within: KeyBounds, binary: bool,
           rate: RateLimit | None) -> int:
    cols = table.copy_columns
    where, params = key_range_condition(table, *within)
    return stage_rows(src, tgt, table, cols, select_query(table, cols, where), params, binary, rate=rate).rows


def _delete_missing(tgt: psycopg.Connection, table: Table, within: KeyBounds) -> int:
    keys = tuple(table.column(name) for name in table.primary_key)
    where, params = key_range_condition(table, *within)
    cur = tgt.execute(
        sql.SQL("DELETE FROM ONLY {table} AS t WHERE {where} AND NOT EXISTS "
                "(SELECT 1 FROM {stage} AS s WHERE {same_key})").format(
            table=table_ident(table), where=where, stage=STAGING_TABLE, same_key=key_equality(keys, "s", "t")
        ),
        params,
    )
    return max(cur.rowcount, 0)


def upsert_staged(tgt: psycopg.Connection, table: Table) -> tuple[int, int]:
    """The staged rows into the table: inserted where the key is new, updated where the row's text differs;
    returns (inserted, updated). Inside the caller's target transaction."""
    cols = table.copy_columns
    others = tuple(c for c in cols if c.name not in table.primary_key)
    override = sql.SQL(" OVERRIDING SYSTEM VALUE") if any(c.identity == "a" for c in cols) else sql.SQL("")
    if others:
        action = sql.SQL("DO UPDATE SET {sets} WHERE {old} IS DISTINCT FROM {new}").format(
            sets=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c.name)) for c in others),
            old=_row_text(cols, "t"), new=_row_text(cols, "excluded"),
        )
    else:
        action = sql.SQL("DO NOTHING")
    # xmax is 0 on a row version the INSERT created, and set on one the DO UPDATE wrote.
    row = tgt.execute(
        sql.SQL("WITH up AS (INSERT INTO {table} AS t ({cols}){override} SELECT {cols} FROM {stage} "
                "ON CONFLICT ({key}) {action} RETURNING (t.xmax = 0) AS inserted) "
                "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up").format(
            table=table_ident(table), cols=column_list(cols), override=override, stage=STAGING_TABLE,
            key=sql.SQL(", ").join(sql.Identifier(k) for k in table.primary_key), action=action,
        )
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def replace_range(
    src: psycopg.Connection, tgt: psycopg.Connection, table: Table, within: KeyBounds, binary: bool,
    rate: RateLimit | None = None,
) -> RangeChange:
    """Make the target's rows in ``within`` equal to the source's (``src`` in the sync's snapshot), atomically."""
    with tgt.transaction():
        _stage(src, tgt, table, within, binary, rate)
        deleted = _delete_missing(tgt, table, within)
        inserted, updated = upsert_staged(tgt, table)
    return RangeChange(inserted, updated, deleted)


def replace_table(src: psycopg.Connection, tgt: psycopg.Connection, table: Table, binary: bool,
                  rate: RateLimit | None = None) -> RangeChange:
    """A table without a key, whole: its rows deleted and copied again, in one target transaction."""
    with tgt.transaction():
        deleted = tgt.execute(sql.SQL("DELETE FROM ONLY {}").format(table_ident(table))).rowcount
        cols = table.copy_columns
        moved = pump(src, tgt, select_query(table, cols, sql.SQL("true")), [], table_ident(table), cols, binary, rate)
    return RangeChange(inserted=moved.rows, deleted=max(deleted, 0))
