"""What arrived on a target, counted after each run (untimed), so a method that moved nothing never looks fast."""

from __future__ import annotations

import psycopg
from psycopg import sql

from benchmarks.dataset import table_specs
from benchmarks.methods import Context


def row_counts(url: str, with_vectors: bool) -> dict[str, int]:
    counts = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for spec in table_specs(with_vectors):
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(spec.identifier)).fetchone()
            counts[spec.name] = int(row[0]) if row else 0
    return counts


def index_count(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "WHERE c.relnamespace = 'public'::regnamespace AND i.indisvalid"
        ).fetchone()
    return int(row[0]) if row else 0


def check_target(ctx: Context, expected_rows: dict[str, int], expected_indexes: int | None) -> None:
    """The target holds as many rows as the source in every table (and as many valid indexes, when given)."""
    have = row_counts(ctx.target_url, ctx.with_vectors)
    for table, rows in expected_rows.items():
        if have.get(table) != rows:
            raise RuntimeError(f"target has {have.get(table)} rows in {table}, source has {rows}")
    if expected_indexes is not None:
        indexes = index_count(ctx.target_url)
        if indexes != expected_indexes:
            raise RuntimeError(f"target has {indexes} valid indexes in public, source has {expected_indexes}")
