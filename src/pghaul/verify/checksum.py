"""Content checksums computed inside the database, per primary-key range.

Each row hashes to a signed 64-bit number: the first 16 hex digits of md5 over the row's text, where the row's
text is ``ROW(col1::text, col2::text, …)::text`` for the copied columns in the source's order. record_out quotes
and escapes each field and prints NULL as nothing, so NULL, '' and 'NULL' hash differently. md5 rather than
hashtextextended() because the latter's result depends on the server's byte order. A pgvector column
(``vector``, ``halfvec``, ``sparsevec``) enters as the md5 of its binary form (``vector_send``: the exact float
bits, the same on every server and pgvector version) instead of its text: printing 384 floats per row as text
cost about four times the whole hash on the benchmark's embeddings.

A range's checksum is the exact sum of its rows' hashes plus its row count: independent of row order,
so no sort is needed, and sensitive to duplicates, so a table without a key is compared as a multiset.

Range boundaries are primary-key values read from the source, every ``step``-th key in key order; the same
boundaries are then used on both sides and compared in SQL, in the key columns' own types and collations.
Range i holds the keys in (boundary[i-1], boundary[i]]; the first range has no lower bound, the last no upper.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import psycopg
from psycopg import sql

from pghaul.copy.keyset import key_comparison
from pghaul.inspect.model import Column, Table

# Each boundary value travels as text and is cast back to the key column's type on the server: text output
# of every key type reads back to the same value under the pinned output settings (see session.py).
Boundary = tuple[str | None, ...]
# A key range: rows after the first bound, up to and including the second; None leaves that side open.
KeyBounds = tuple[Boundary | None, Boundary | None]


@dataclass(frozen=True)
class RangeSum:
    rows: int
    checksum: int


@dataclass(frozen=True)
class TableSums:
    """Per-range sums of one side; ranges absent from ``ranges`` hold no rows."""

    ranges: dict[int, RangeSum]

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.ranges.values())

    def range(self, index: int) -> RangeSum:
        return self.ranges.get(index, RangeSum(0, 0))


def _table_ident(table: Table) -> sql.Composable:
    return sql.Identifier(table.schema, table.name)


def _key_columns(table: Table) -> list[Column]:
    return [table.column(name) for name in table.primary_key]


# format_type of a pgvector column: the extension's schema as the catalog prints it, the type, its dimensions.
_VECTOR_TYPE = re.compile(
    r'^(?P<schema>"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)\.(?P<type>vector|halfvec|sparsevec)(\(\d+\))?$'
)


def _field(column: Column) -> sql.Composable:
    vector = _VECTOR_TYPE.match(column.type)
    if vector is None:
        return sql.SQL("{}::text").format(sql.Identifier(column.name))
    # The send function lives in the type's schema, printed by the catalog (trusted identifier text).
    return sql.SQL("pg_catalog.md5({}.{}({}))").format(
        sql.SQL(vector["schema"]), sql.Identifier(f"{vector['type']}_send"), sql.Identifier(column.name))


def row_hash_expression(columns: tuple[Column, ...] | list[Column]) -> sql.Composable:
    """A signed 64-bit hash of the row's copied columns.

    sum() over bigint returns numeric and accumulates in 128 bits, so range sums are exact and cannot overflow.
    """
    if not columns:
        return sql.SQL("0::bigint")
    fields = sql.SQL(", ").join(_field(c) for c in columns)
    return sql.SQL("('x' || left(md5(ROW({})::text), 16))::bit(64)::bigint").format(fields)


def range_count(rows: int, rows_per_range: int, max_ranges: int) -> int:
    if rows <= 0:
        return 1
    return max(1, min(max_ranges, math.ceil(rows / max(1, rows_per_range))))


def choose_boundaries(
    conn: psycopg.Connection, table: Table, rows: int, ranges: int, within: KeyBounds = (None, None)
) -> list[Boundary]:
    """Every ``step``-th primary key in key order: ``ranges - 1`` upper bounds splitting the table (or the key
    range ``within``, holding ``rows`` rows) evenly.

    The aliases keep the table's own column names out of the outer query, where one could be called "rn".
    """
    if not table.primary_key or ranges <= 1 or rows <= 1:
        return []
    step = math.ceil(rows / ranges)
    keys = _key_columns(table)
    aliases = [sql.Identifier(f"k{i}") for i in range(len(keys))]
    condition, params = key_range_condition(table, *within)
    query = sql.SQL(
        "SELECT {outer} FROM (SELECT {inner}, row_number() OVER (ORDER BY {order}) AS rn FROM ONLY {table} "
        "WHERE {condition}) AS s WHERE s.rn %% %s = 0 AND s.rn < %s ORDER BY s.rn"
    ).format(
        outer=sql.SQL(", ").join(sql.SQL("s.{}::text").format(a) for a in aliases),
        inner=sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(sql.Identifier(c.name), a) for c, a in zip(keys, aliases, strict=True)
        ),
        order=sql.SQL(", ").join(sql.Identifier(c.name) for c in keys),
        table=_table_ident(table),
        condition=condition,
    )
    return [tuple(row) for row in conn.execute(query, (*params, step, rows)).fetchall()]


def _key_at_most(keys: list[Column], boundary: Boundary) -> tuple[sql.Composable, list[str | None]]:
    """``key <= boundary`` in the key's own types (and so its collations)."""
    return key_comparison(keys, "<=", boundary)


def key_range_condition(
    table: Table, after: Boundary | None, up_to: Boundary | None
) -> tuple[sql.Composable, list[str | None]]:
    """A WHERE condition (and its parameters) selecting the rows of one key range: the ranges verify reports
    and sync narrows and replaces.

    ``after`` and ``up_to`` are a :class:`~pghaul.verify.report.KeyRange`'s bounds; None leaves that side open.
    """
    keys = _key_columns(table)
    parts: list[sql.Composable] = []
    params: list[str | None] = []
    if after is not None:
        condition, values = _key_at_most(keys, after)
        parts.append(sql.SQL("NOT ({})").format(condition))
        params.extend(values)
    if up_to is not None:
        condition, values = _key_at_most(keys, up_to)
        parts.append(condition)
        params.extend(values)
    return (sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")), params


def _bucket(
    keys: list[Column], boundaries: list[Boundary], lo: int, hi: int, params: list[str | None]
) -> sql.Composable:
    """The range number of the row's key, known to lie in ranges lo..hi: a binary search written as nested CASEs.

    Each row meets about log2(ranges) key comparisons instead of one per boundary; with text keys under a
    linguistic collation each comparison is a strcoll() call, so this matters on wide key ranges.
    Parameters are appended in the order their placeholders appear in the text.
    """
    if lo == hi:
        return sql.Literal(lo)
    mid = (lo + hi) // 2
    condition, values = _key_at_most(keys, boundaries[mid])
    params.extend(values)
    below = _bucket(keys, boundaries, lo, mid, params)
    above = _bucket(keys, boundaries, mid + 1, hi, params)
    return sql.SQL("CASE WHEN {} THEN {} ELSE {} END").format(condition, below, above)


def range_sums(
    conn: psycopg.Connection, source_table: Table, boundaries: list[Boundary], within: KeyBounds = (None, None),
    *, hashed: bool = True,
) -> TableSums:
    """Row count and checksum per range, in one scan of the table (or of the key range ``within``, which the
    ``boundaries`` then split). Without ``hashed``, only the counts (the checksums are 0): the key alone is read.

    ``source_table`` gives the columns and key types: the same composed query runs on both sides, so a
    column missing on the target fails loudly rather than being skipped.
    """
    params: list[str | None] = []
    bucket = _bucket(_key_columns(source_table), boundaries, 0, len(boundaries), params)
    # Placeholders in text order: the bucket's (in the select list), then the range's (in WHERE).
    condition, range_params = key_range_condition(source_table, *within)
    params.extend(range_params)
    # Joining the range numbers to generate_series tells the planner there are only that many groups: grouping
    # by the CASE alone, it expects one group per key and sorts every row (to disk on a big table) before summing,
    # where a parallel hash aggregate over a handful of groups needs no sort at all.
    query = sql.SQL(
        "SELECT b.r, count(*), coalesce(sum(s.h), 0)::text "
        "FROM (SELECT {bucket} AS r, {hash} AS h FROM ONLY {table} WHERE {condition}) AS s "
        "JOIN generate_series(0, {last}) AS b(r) ON b.r = s.r GROUP BY b.r"
    ).format(
        bucket=bucket,
        hash=row_hash_expression(source_table.copy_columns if hashed else ()),
        table=_table_ident(source_table),
        condition=condition,
        last=sql.Literal(len(boundaries)),
    )
    rows = conn.execute(query, params).fetchall()
    return TableSums({int(r): RangeSum(int(n), int(h)) for r, n, h in rows})


def differing_ranges(source: TableSums, target: TableSums, ranges: int) -> list[int]:
    return [i for i in range(ranges) if source.range(i) != target.range(i)]
