"""One table, both sides: exact row counts and per-key-range checksums, source and target scanned at once."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import psycopg
from psycopg import sql

from pghaul.inspect.model import Table
from pghaul.verify.checksum import (
    Boundary,
    TableSums,
    choose_boundaries,
    differing_ranges,
    range_count,
    range_sums,
)
from pghaul.verify.report import KeyRange, TableCheck


def _count(conn: psycopg.Connection, table: Table) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM ONLY {}").format(sql.Identifier(table.schema, table.name)))
    return int(row.fetchone()[0])  # type: ignore[index]


def _target_side(conn: psycopg.Connection, table: Table, boundaries: list[Boundary]) -> TableSums:
    with conn.transaction():
        return range_sums(conn, table, boundaries)


def _wait_quietly(job: Future[TableSums]) -> None:
    try:
        job.result()
    except psycopg.Error:
        pass


def _error_text(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return primary or str(exc).strip().splitlines()[0]


def check_table(
    source: psycopg.Connection,
    target: psycopg.Connection,
    table: Table,
    on_target: bool,
    pool: ThreadPoolExecutor,
    rows_per_range: int,
    max_ranges: int,
) -> TableCheck:
    """Compare one table. ``table`` is the source's definition; it fixes the columns and key types on both sides."""
    name = table.display_name
    target_job: Future[TableSums] | None = None
    try:
        # One snapshot on the source for the count, the boundaries and the sums, so the ranges describe the rows
        # summed; the target's scan runs in the pool meanwhile.
        with source.transaction():
            total = _count(source, table)
            boundaries = choose_boundaries(source, table, total, range_count(total, rows_per_range, max_ranges))
            if on_target:
                target_job = pool.submit(_target_side, target, table, boundaries)
            source_sums = range_sums(source, table, boundaries)
    except psycopg.Error as exc:
        if target_job is not None:
            _wait_quietly(target_job)
        return TableCheck(name, table.primary_key, None, None, error=f"cannot read on the source: {_error_text(exc)}")
    if target_job is None:
        return TableCheck(name, table.primary_key, source_sums.rows, None, error="missing on target")
    try:
        target_sums = target_job.result()
    except psycopg.Error as exc:
        return TableCheck(
            name, table.primary_key, source_sums.rows, None, error=f"cannot read on the target: {_error_text(exc)}"
        )
    ranges = len(boundaries) + 1
    differing = tuple(
        KeyRange(
            index=i,
            after=boundaries[i - 1] if i > 0 else None,
            up_to=boundaries[i] if i < len(boundaries) else None,
            rows_source=source_sums.range(i).rows,
            rows_target=target_sums.range(i).rows,
        )
        for i in differing_ranges(source_sums, target_sums, ranges)
    )
    return TableCheck(
        table=name,
        primary_key=table.primary_key,
        rows_source=source_sums.rows,
        rows_target=target_sums.rows,
        ranges=ranges,
        checksum_match=not differing,
        differing_ranges=differing,
    )
