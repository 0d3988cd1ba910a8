"""The table listing: what is in the source, how big, keyed by what, and whether the target has it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pghaul.inspect import inspect_tables
from pghaul.inspect.model import Table


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    kind: str  # r = ordinary, p = partitioned (its rows are in its partitions)
    rows_estimated: int
    size_bytes: int
    primary_key: tuple[str, ...]
    primary_key_types: tuple[str, ...]
    rows_exact: int | None = None  # counted, only when asked for
    exists_on_target: bool | None = None  # None when no target was given
    partition_of: tuple[str, str] | None = None

    @property
    def display_name(self) -> str:
        return f"{self.schema}.{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "name": self.name,
            "kind": "partitioned" if self.kind == "p" else "table",
            "rows_estimated": self.rows_estimated,
            "rows_exact": self.rows_exact,
            "size_bytes": self.size_bytes,
            "primary_key": [
                {"column": c, "type": t} for c, t in zip(self.primary_key, self.primary_key_types, strict=True)
            ],
            "exists_on_target": self.exists_on_target,
            "partition_of": ".".join(self.partition_of) if self.partition_of else None,
        }


def _count(conn: psycopg.Connection, table: Table) -> int:
    # A partitioned table's count covers its partitions; any other table counts only its own rows (ONLY).
    only = sql.SQL("") if table.kind == "p" else sql.SQL("ONLY ")
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}{}").format(only, sql.Identifier(table.schema, table.name)))
    return int(row.fetchone()[0])  # type: ignore[index]


@dataclass(frozen=True)
class CountLimit:
    """Which tables a listing inside a request may count exactly: small ones (by the catalog's estimate and by
    size, since a table never analyzed estimates 0), within a total, so the listing's cost stays bounded
    whatever the database's size. Others keep the catalog's estimate."""

    below_rows: int = 10_000
    max_table_bytes: int = 64 * 1024 * 1024
    max_total_bytes: int = 256 * 1024 * 1024
    max_tables: int = 500


# What the admin API's table listing counts exactly.
SMALL_TABLES = CountLimit()


def _counted(rows: int, size: int, limit: CountLimit | None, budget: list[int]) -> bool:
    """Whether to count this table; ``budget`` holds the bytes and tables still allowed (updated)."""
    if limit is None:
        return True
    if rows >= limit.below_rows or size > limit.max_table_bytes or size > budget[0] or budget[1] <= 0:
        return False
    budget[0] -= size
    budget[1] -= 1
    return True


def _rolled_up(tables: dict[tuple[str, str], Table], key: tuple[str, str], field: str) -> int:
    """A partitioned table's estimate is its partitions' (it holds no rows itself)."""
    table = tables[key]
    if table.kind != "p":
        return int(getattr(table, field))
    return sum(_rolled_up(tables, k, field) for k, t in tables.items() if t.partition_of == key)


def list_tables(
    src_conn: psycopg.Connection,
    tgt_conn: psycopg.Connection | None = None,
    exact: bool = False,
    limit: CountLimit | None = None,
) -> list[TableInfo]:
    """Every table of the source, sorted by schema and name; with ``exact``, rows counted (only the tables
    ``limit`` allows, when given)."""
    tables = inspect_tables(src_conn)
    on_target = set(inspect_tables(tgt_conn)) if tgt_conn is not None else None
    budget = [limit.max_total_bytes, limit.max_tables] if limit is not None else [0, 0]
    out = []
    for key, t in sorted(tables.items()):
        rows, size = _rolled_up(tables, key, "rows_estimated"), _rolled_up(tables, key, "size_bytes")
        out.append(
            TableInfo(
                schema=t.schema,
                name=t.name,
                kind=t.kind,
                rows_estimated=rows,
                size_bytes=size,
                primary_key=t.primary_key,
                primary_key_types=tuple(t.column(c).type for c in t.primary_key),
                rows_exact=_count(src_conn, t) if exact and _counted(rows, size, limit, budget) else None,
                exists_on_target=None if on_target is None else key in on_target,
                partition_of=t.partition_of,
            )
        )
    return out
