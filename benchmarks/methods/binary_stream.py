"""The limit of the data phase: rows streamed with binary COPY straight from the source server into the target
server, each table cut into key ranges of about 64 MB that N workers take largest first, no per-row work in
Python (rows are read with the tightest libpq loop there is, pghaul's own ``copy_out_blocks``)."""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

from benchmarks.dataset import TableSpec, table_specs
from benchmarks.methods import Context, Outcome
from benchmarks.methods.pre_created import OnPreCreatedTables
from pghaul.copy.stream import copy_out_blocks

RANGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class KeyRange:
    spec: TableSpec
    after: int  # rows with after < key <= upto
    upto: int
    bytes: float


class BinaryStream(OnPreCreatedTables):
    key = "binary-stream"

    def __init__(self, workers: int) -> None:
        self.label = f"raw binary COPY stream, server to server, {workers} workers"

    def run(self, ctx: Context) -> Outcome:
        started = time.perf_counter()
        stream_all(ctx)
        return Outcome(time.perf_counter() - started)


def stream_all(ctx: Context) -> None:
    """Every row of every table into the (pre-created) target tables, over ``ctx.workers`` connections."""
    ranges = sorted(key_ranges(ctx), key=lambda r: -r.bytes)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with psycopg.connect(ctx.source_url, autocommit=True) as src, \
                    psycopg.connect(ctx.target_url, autocommit=True) as tgt:
                while True:
                    with lock:
                        if not ranges or errors:
                            return
                        task = ranges.pop(0)
                    with tgt.transaction():
                        _stream_range(src, tgt, task)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(ctx.workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def key_ranges(ctx: Context) -> list[KeyRange]:
    """Equal key spans (the dataset's keys are dense), as many as the table has 64 MB."""
    out = []
    with psycopg.connect(ctx.source_url, autocommit=True) as conn:
        for spec in table_specs(ctx.with_vectors):
            query = sql.SQL("SELECT min({k}), max({k}), pg_table_size(%s::regclass) FROM {t}").format(
                k=sql.Identifier(spec.key), t=spec.identifier
            )
            row = conn.execute(query, [spec.identifier.as_string(conn)]).fetchone()
            assert row is not None
            low, high, size = row
            if low is None:
                continue
            parts = max(1, math.ceil(size / RANGE_BYTES))
            bounds = [low - 1 + (high - low + 1) * i // parts for i in range(parts + 1)]
            out += [KeyRange(spec, a, b, size / parts) for a, b in itertools.pairwise(bounds) if b > a]
    return out


def _stream_range(src: psycopg.Connection, tgt: psycopg.Connection, task: KeyRange) -> None:
    spec = task.spec
    copy_out = sql.SQL(
        "COPY (SELECT {cols} FROM {table} WHERE {key} > %s AND {key} <= %s) TO STDOUT (FORMAT BINARY)"
    ).format(table=spec.identifier, cols=spec.column_list, key=sql.Identifier(spec.key))
    copy_in = sql.SQL("COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)").format(
        table=spec.identifier, cols=spec.column_list
    )
    with src.cursor() as scur, tgt.cursor() as tcur:
        with scur.copy(copy_out, [task.after, task.upto]), tcur.copy(copy_in) as writer:
            for block in copy_out_blocks(src):
                writer.write(b"".join(block))
