"""What any tool must at least spend end to end on this machine: the raw binary stream of the rows, then each
table's indexes and its ANALYZE (tables pre-created untimed, with their primary keys). No process start-up,
no catalog reading, no checkpoints: a floor to read the other end-to-end figures against."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import sql

from benchmarks.dataset import index_statements, table_specs
from benchmarks.methods import END_TO_END, Context, Outcome
from benchmarks.methods.binary_stream import BinaryStream, stream_all


class RawFloor(BinaryStream):
    """The raw stream's setup (tables pre-created with their keys), timed to the last table's ANALYZE."""

    key = "raw-floor"
    measures = END_TO_END

    def __init__(self, workers: int) -> None:
        self.label = f"floor: raw binary stream + each table's indexes and ANALYZE, {workers} workers (no tool)"

    def run(self, ctx: Context) -> Outcome:
        started = time.perf_counter()
        stream_all(ctx)
        with ThreadPoolExecutor(max_workers=ctx.workers) as pool:
            specs = table_specs(ctx.with_vectors)
            for future in [pool.submit(_finish_table, ctx, spec.name, spec.identifier) for spec in specs]:
                future.result()
        return Outcome(time.perf_counter() - started)


def _finish_table(ctx: Context, name: str, identifier: sql.Identifier) -> None:
    with psycopg.connect(ctx.target_url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")  # what an HNSW build needs to be quick
        for statement in index_statements(name, ctx.with_vectors):
            conn.execute(statement)
        conn.execute(sql.SQL("ANALYZE {}").format(identifier))
