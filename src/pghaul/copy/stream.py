"""The hot path: one COPY stream from the source pumped into one COPY stream on the target.

Rows are never decoded: the source's COPY output goes to the target as raw bytes, so no type adapter is
needed (``vector`` included) and memory stays bounded by one buffer plus the largest single row.
"""

from __future__ import annotations

import selectors
from collections.abc import Collection, Iterator
from dataclasses import dataclass

import psycopg
from psycopg import pq, sql
from psycopg.errors import error_from_result

from pghaul.copy.keyset import column_list
from pghaul.copy.rate_limit import RateLimit
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
    source: Table,
    target: Table | None,
    source_version: int,
    target_version: int,
    without_binary_io: Collection[str] = (),
) -> bool:
    """Binary COPY applies no casts, so it is used only when every copied column has the very same type, and
    only when none of those types is in ``without_binary_io`` (types with no binary send or receive function on
    either server, see :mod:`pghaul.copy.binary_io`): COPY cannot mix formats, so one such column makes it text."""
    if target is None or min(source_version, target_version) < BINARY_MIN_SERVER_VERSION:
        return False
    target_types = {c.name: c.type for c in target.copy_columns}
    return all(
        target_types.get(c.name) == c.type and c.type not in without_binary_io for c in source.copy_columns
    )


def copy_format(binary: bool) -> sql.SQL:
    return sql.SQL("(FORMAT BINARY)") if binary else sql.SQL("(FORMAT TEXT)")


def select_query(table: Table, columns: tuple[Column, ...], where: sql.Composable) -> sql.Composed:
    """Rows of the table itself (``ONLY``: an inheritance parent's children are copied as their own tables)."""
    return sql.SQL("SELECT {cols} FROM ONLY {table} WHERE {where}").format(
        cols=column_list(columns), table=sql.Identifier(table.schema, table.name), where=where
    )


def copy_out_blocks(conn: psycopg.Connection, block_bytes: int = WRITE_BUFFER_BYTES) -> Iterator[list[memoryview]]:
    """The rows of the COPY TO STDOUT that ``conn`` has just started, as lists of about ``block_bytes``.

    psycopg's ``Copy.read()`` runs a generator and a wait loop for every row, which cost as much CPU as the two
    servers' own work on narrow rows; this takes every row libpq already holds in one tight loop and waits on
    the socket only when none is left. It finishes the COPY itself (reads its final result and raises its
    error), so the ``Copy`` block it runs inside has nothing left to do on exit.
    """
    pgconn = conn.pgconn
    with selectors.DefaultSelector() as selector:
        selector.register(pgconn.socket, selectors.EVENT_READ)
        pending: list[memoryview] = []
        size = 0
        while True:
            nbytes, data = pgconn.get_copy_data(1)
            if nbytes > 0:
                pending.append(data)
                size += nbytes
                if size >= block_bytes:
                    yield pending
                    pending, size = [], 0
            elif nbytes == 0:  # nothing buffered: hand over what there is, then wait for the server
                if pending:
                    yield pending
                    pending, size = [], 0
                selector.select()
                pgconn.consume_input()
            elif nbytes == -1:
                break
            else:
                raise psycopg.OperationalError(pgconn.get_error_message())
        _finish_copy_out(pgconn, selector, conn.info.encoding)
        if pending:
            yield pending


def _finish_copy_out(pgconn: pq.abc.PGconn, selector: selectors.BaseSelector, encoding: str) -> None:
    """Read results until libpq has none left (it must be drained before the next query), then raise the
    COPY's error if it ended with one."""
    error: psycopg.Error | None = None
    while True:
        pgconn.consume_input()
        if pgconn.is_busy():
            selector.select()
            continue
        result = pgconn.get_result()
        if result is None:
            break
        if result.status != pq.ExecStatus.COMMAND_OK and error is None:
            error = error_from_result(result, encoding=encoding)
    if error is not None:
        raise error


def pump(
    src: psycopg.Connection,
    tgt: psycopg.Connection,
    select: sql.Composable,
    params: list[str],
    target_table: sql.Composable,
    columns: tuple[Column, ...],
    binary: bool,
    rate: RateLimit | None = None,
) -> StreamResult:
    """Stream ``select`` (run on ``src``) into ``target_table (columns)`` on ``tgt``; returns rows and bytes moved.

    Runs inside whatever transactions the caller has open on each side; commits nothing. With ``rate``, each block
    read from the source is counted in the run's cap, and the stream waits while the run is ahead of it.
    """
    fmt = copy_format(binary)
    out_query = sql.SQL("COPY ({select}) TO STDOUT {fmt}").format(select=select, fmt=fmt)
    # A table may have no columns at all (its rows still count); COPY then takes no column list.
    cols = sql.SQL(" ({})").format(column_list(columns)) if columns else sql.SQL("")
    in_query = sql.SQL("COPY {table}{cols} FROM STDIN {fmt}").format(table=target_table, cols=cols, fmt=fmt)
    total = 0
    with src.cursor() as scur, tgt.cursor() as tcur:
        with scur.copy(out_query, params), tcur.copy(in_query) as writer:
            for block in copy_out_blocks(src):
                data = b"".join(block)
                writer.write(data)
                total += len(data)
                if rate is not None:
                    rate.take(len(data))
        rows = tcur.rowcount
    return StreamResult(rows=max(rows, 0), bytes=total)
