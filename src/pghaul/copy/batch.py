"""The compatible one-batch contract: move the rows after a cursor, return inserted/skipped/next cursor/has more.

The client holds the position (an HMAC-signed cursor), so each call is independent: a batch goes through a
staging table and ``INSERT … ON CONFLICT DO NOTHING``, which makes re-sending the same cursor insert nothing
twice. Each batch is found by keyset from the cursor's key through the primary key index, so the thousandth
batch of a large table costs what the first does.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from pghaul.copy import state
from pghaul.copy.binary_io import binary_copy
from pghaul.copy.cursor import decode_cursor, encode_cursor
from pghaul.copy.keyset import Keyset
from pghaul.copy.snapshot import pin_reader_settings
from pghaul.copy.table_data import (
    check_key_on_target,
    copy_all_rows,
    copy_staged,
    filled_by_pghaul,
)
from pghaul.engine.preflight import check_target_is_not_source
from pghaul.errors import UsageError
from pghaul.inspect.model import Table
from pghaul.limits import DEFAULT_BATCH_ROWS, MAX_BATCH_ROWS, MIN_BATCH_ROWS

MIN_BATCH_SIZE = MIN_BATCH_ROWS
MAX_BATCH_SIZE = MAX_BATCH_ROWS
DEFAULT_BATCH_SIZE = DEFAULT_BATCH_ROWS


@dataclass(frozen=True)
class BatchResult:
    inserted: int
    skipped: int
    next_cursor: str | None
    has_more: bool


def check_batch_size(batch_size: int) -> int:
    if not MIN_BATCH_SIZE <= batch_size <= MAX_BATCH_SIZE:
        raise UsageError(
            f"batch size {batch_size} is out of range",
            f"use a batch size from {MIN_BATCH_SIZE} to {MAX_BATCH_SIZE:,} (default {DEFAULT_BATCH_SIZE:,})",
        )
    return batch_size


def move_batch(
    src_conn: psycopg.Connection,
    tgt_conn: psycopg.Connection,
    table: Table,
    cursor: str | None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    *,
    cursor_key: bytes,
    target_table: Table | None = None,
) -> BatchResult:
    """Copy up to ``batch_size`` rows of ``table`` after ``cursor`` (None: from the start).

    A table without a primary key is copied whole in one transaction, with a checkpoint saying pghaul filled it:
    ``has_more`` is False; asked again it replaces those rows, and it refuses a table holding rows pghaul did not
    copy. With ``dry_run`` the target transaction is rolled back, so the counts say what would happen.
    Binary COPY is used when ``target_table`` is given and has the same column types, each with binary I/O on
    both servers; text otherwise.
    """
    check_batch_size(batch_size)
    # Even a dry run writes (in a transaction it rolls back): triggers would fire and sequences move on the source.
    check_target_is_not_source(src_conn, tgt_conn)
    name = table.display_name
    binary = binary_copy(src_conn, tgt_conn, table, target_table)
    if not table.primary_key:
        if cursor:
            decode_cursor(cursor, name, 0, cursor_key)  # a cursor is never issued for such a table
        return _whole_table(src_conn, tgt_conn, table, binary, dry_run)
    check_key_on_target(table, target_table)
    keyset = Keyset.of(table)
    after = decode_cursor(cursor, name, keyset.width, cursor_key) if cursor else None
    with src_conn.transaction():
        pin_reader_settings(src_conn, transaction_only=True)
        end = keyset.chunk_end(src_conn, after, None, batch_size)
        if end is None:
            return BatchResult(0, 0, cursor, False)
        where, params = keyset.where(after, end)
        with tgt_conn.transaction() as tx:
            chunk = copy_staged(src_conn, tgt_conn, table, where, params, binary)
            if dry_run:
                raise psycopg.Rollback(tx)
        has_more = keyset.exists_after(src_conn, end)
    return BatchResult(chunk.inserted, chunk.skipped, encode_cursor(name, end, cursor_key), has_more)


def _whole_table(
    src_conn: psycopg.Connection, tgt_conn: psycopg.Connection, table: Table, binary: bool, dry_run: bool
) -> BatchResult:
    """Asked again, the batch replaces what pghaul copied before (no duplicates); rows it did not copy are never
    deleted: refused, before anything is written."""
    ours = filled_by_pghaul(tgt_conn, table)
    with src_conn.transaction(), tgt_conn.transaction() as tx:
        pin_reader_settings(src_conn, transaction_only=True)
        chunk = copy_all_rows(src_conn, tgt_conn, table, binary, replace_own=ours)
        state.record_whole_table(tgt_conn, table, chunk.inserted, chunk.bytes)
        if dry_run:
            raise psycopg.Rollback(tx)
    return BatchResult(chunk.inserted, 0, None, False)
