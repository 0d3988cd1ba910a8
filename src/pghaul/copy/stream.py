"""The hot path: one COPY stream from the source pumped into one COPY stream on the target.

Rows are never decoded: the source's COPY output goes to the target as raw bytes, so no type adapter is
needed (``vector`` included) and memory stays bounded by one buffer plus the largest single row.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from pghaul.copy.keyset import column_list
from pghaul.inspect.model import Column, Table

# libpq delivers one row per CopyData message; joining rows into ~128 KiB before write() cuts the per-call
# overhead, and psycopg splits anything larger anyway (bigger buffers were slower, psycopg #255).
WRITE_BUFFER_BYTES = 128 * 1024

# Binary COPY of arrays and composites of non-built-in types checks element type OIDs before PostgreSQL 14.
BINARY_MIN_SERVER_VERSION = 140000


@dataclass(frozen=True)
class StreamResult:
    rows: int
    bytes: int


def binary_compatible(
    source: Table, target: Table | None, source_version: int, target_version: int
) -> bool:
    """Binary COPY applies no casts, so it is used only when every copied column has the very same type."""
    if target is None or min(source_version, target_version) < BINARY_MIN_SERVER_VERSION:
        return False
    target_types = {c.name: c.type for c in target.copy_columns}
    return all(target_types.get(c.name) == c.type for c in source.copy_columns)


def copy_format(binary: bool) -> sql.SQL:
    return sql.SQL("(FORMAT BINARY)") if binary else sql.SQL("(FORMAT TEXT)")


def select_query(table: Table, columns: tuple[Column, ...], where: sql.Composable) -> sql.Composed:
    """Rows of the table itself (``ONLY``: an inheritance parent's children are copied as their own tables)."""
    return sql.SQL("SELECT {cols} FROM ONLY {table} WHERE {where}").format(
        cols=column_list(columns), table=sql.Identifier(table.schema, table.name), where=where
    )


def pump(
    src: psycopg.Connection,
    tgt: psycopg.Connection,
    select: sql.Composable,
    params: list[str],
    target_table: sql.Composable,
    columns: tuple[Column, ...],
    binary: bool,
) -> StreamResult:
    """Stream ``select`` (run on ``src``) into ``target_table (columns)`` on ``tgt``; returns rows and bytes moved.

    Runs inside whatever transactions the caller has open on each side; commits nothing.
    """
    fmt = copy_format(binary)
    out_query = sql.SQL("COPY ({select}) TO STDOUT {fmt}").format(select=select, fmt=fmt)
    in_query = sql.SQL("COPY {table} ({cols}) FROM STDIN {fmt}").format(
        table=target_table, cols=column_list(columns), fmt=fmt
    )
    total = 0
    pending: list[bytes] = []
    pending_size = 0
    with src.cursor() as scur, tgt.cursor() as tcur:
        with scur.copy(out_query, params) as reader, tcur.copy(in_query) as writer:
            while data := reader.read():
                chunk = bytes(data)
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= WRITE_BUFFER_BYTES:
                    writer.write(b"".join(pending))
                    total += pending_size
                    pending.clear()
                    pending_size = 0
            if pending:
                writer.write(b"".join(pending))
                total += pending_size
        rows = tcur.rowcount
    return StreamResult(rows=max(rows, 0), bytes=total)
