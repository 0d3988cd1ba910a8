"""The limit of the data phase: each table streamed with binary COPY straight from the source server into the
target server, tables spread over N workers, no per-row work in Python."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import sql

from benchmarks.dataset import TableSpec, table_specs
from benchmarks.methods import DATA_PHASE, Context, Outcome
from benchmarks.methods.pre_created import pre_create_tables

# COPY TO yields one row per buffer; psycopg itself splits writes above 128 KiB, so join rows up to that.
WRITE_BYTES = 128 * 1024


class BinaryStream:
    key = "binary-stream"
    measures = DATA_PHASE

    def __init__(self, workers: int) -> None:
        self.label = f"raw binary COPY stream, server to server, {workers} workers"

    def unavailable(self, ctx: Context) -> str | None:
        return None

    def prepare(self, ctx: Context) -> None:
        pre_create_tables(ctx)

    def run(self, ctx: Context) -> Outcome:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=ctx.workers) as pool:
            futures = [pool.submit(_stream_table, ctx, spec) for spec in table_specs(ctx.with_vectors)]
            for future in futures:
                future.result()
        return Outcome(time.perf_counter() - started)


def _stream_table(ctx: Context, spec: TableSpec) -> None:
    copy_out = sql.SQL("COPY {table} ({cols}) TO STDOUT (FORMAT BINARY)").format(
        table=spec.identifier, cols=spec.column_list
    )
    copy_in = sql.SQL("COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)").format(
        table=spec.identifier, cols=spec.column_list
    )
    with psycopg.connect(ctx.source_url, autocommit=True) as src, psycopg.connect(ctx.target_url) as tgt:
        with src.cursor().copy(copy_out) as reader, tgt.cursor().copy(copy_in) as writer:
            pending: list[memoryview] = []
            size = 0
            for block in reader:
                pending.append(block)
                size += len(block)
                if size >= WRITE_BYTES:
                    writer.write(b"".join(pending))
                    pending.clear()
                    size = 0
            if pending:
                writer.write(b"".join(pending))
        tgt.commit()
