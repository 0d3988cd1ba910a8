"""Splitting a large table into key ranges that workers copy independently.

Boundaries are quantiles of a sample of the key, sorted by the source in the key's own order; the ranges are
recorded on the target before any row moves, so a resumed run continues with the very same ranges.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from pghaul.copy.keyset import Key, Keyset, table_ident
from pghaul.inspect.model import Table

# Enough sampled keys for even ranges, few enough to sort and hold in memory at once.
SAMPLE_KEYS = 10_000


def estimate_rows(conn: psycopg.Connection, table: Table) -> int:
    """The catalog's estimate; a table never analyzed has none, so small ones are counted, large ones guessed."""
    if table.rows_estimated > 0:
        return table.rows_estimated
    if table.size_bytes <= 64 * 1024 * 1024:
        row = conn.execute(sql.SQL("SELECT count(*) FROM ONLY {}").format(table_ident(table))).fetchone()
        return int(row[0]) if row else 0
    return table.size_bytes // 200


def split_points(conn: psycopg.Connection, table: Table, rows_estimated: int, parts: int) -> list[Key]:
    """Up to ``parts - 1`` increasing keys that cut the table into ranges of about equal row counts."""
    if parts <= 1 or not table.primary_key or rows_estimated <= 0:
        return []
    keyset = Keyset.of(table)
    percent = min(100.0, 100.0 * SAMPLE_KEYS / rows_estimated)
    query = sql.SQL(
        "SELECT {text} FROM ONLY {table} AS sampled TABLESAMPLE SYSTEM (%s) ORDER BY {order}"
    ).format(
        text=keyset.text_columns("sampled"), table=table_ident(table), order=keyset.order_by(relation="sampled")
    )
    keys = [tuple(r) for r in conn.execute(query, [percent]).fetchall()]
    if len(keys) < parts:
        return []
    bounds: list[Key] = []
    for i in range(1, parts):
        key = keys[i * len(keys) // parts]
        if not bounds or key != bounds[-1]:
            bounds.append(key)
    return bounds
