"""Building post-data steps the way bulk loads want: vector indexes with memory, and progress while they build.

An HNSW build is many times faster when its graph fits ``maintenance_work_mem`` (16 s with 1 GB against 60 s
with the default 64 MB for 100k × 384 on 2 cores), so vector index steps run with a raised setting, one at a
time so that memory stays bounded, and with parallel maintenance workers where pgvector's parallel build is
safe (0.6.0–0.8.1 had a parallel HNSW build bug, fixed in 0.8.2).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from pghaul.connect import connect_target
from pghaul.events import IndexProgress, Listener

_VECTOR_INDEX = re.compile(r"\bUSING\s+(hnsw|ivfflat)\b", re.IGNORECASE)

# Cap for the automatic choice: beyond this the build rarely gets faster, and managed servers are small.
MAX_AUTO_MAINTENANCE_WORK_MEM_KB = 1024 * 1024
PARALLEL_HNSW_SAFE_FROM = (0, 8, 2)
PROGRESS_POLL_SECONDS = 0.5


def is_vector_index_step(step_sql: str) -> bool:
    return bool(_VECTOR_INDEX.search(step_sql))


@dataclass(frozen=True)
class VectorBuildSettings:
    maintenance_work_mem_kb: int
    parallel_workers: int

    def settings(self) -> list[tuple[str, str]]:
        return [
            ("maintenance_work_mem", f"{self.maintenance_work_mem_kb}kB"),
            ("max_parallel_maintenance_workers", str(self.parallel_workers)),
        ]


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def choose_vector_settings(conn: psycopg.Connection, requested_kb: int | None = None) -> VectorBuildSettings:
    """From the target: twice shared_buffers (a proxy for its memory, usually a quarter of RAM), capped at 1 GB,
    never below what is already configured; parallel workers only where the pgvector build is safe."""
    row = conn.execute(
        "SELECT current_setting('maintenance_work_mem'), pg_size_bytes(current_setting('maintenance_work_mem')),"
        " pg_size_bytes(current_setting('shared_buffers')), current_setting('max_parallel_workers')::int,"
        " (SELECT extversion FROM pg_extension WHERE extname = 'vector')"
    ).fetchone()
    assert row is not None
    current_kb = int(row[1]) // 1024
    shared_kb = int(row[2]) // 1024
    if requested_kb is not None:
        memory_kb = requested_kb
    else:
        memory_kb = max(current_kb, min(MAX_AUTO_MAINTENANCE_WORK_MEM_KB, 2 * shared_kb))
    version = row[4]
    safe = version is not None and _version_tuple(version) >= PARALLEL_HNSW_SAFE_FROM
    workers = min(int(row[3]), 4) if safe else 0
    return VectorBuildSettings(memory_kb, workers)


@contextmanager
def session_settings(conn: psycopg.Connection, settings: list[tuple[str, str]]) -> Iterator[None]:
    for name, value in settings:
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))
    try:
        yield
    finally:
        for name, _ in settings:
            if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                conn.execute(sql.SQL("RESET {}").format(sql.Identifier(name)))


@contextmanager
def watch_index_build(target_url: str, backend_pid: int, name: str, listener: Listener) -> Iterator[None]:
    """Emit IndexProgress from pg_stat_progress_create_index for ``backend_pid`` while the block runs."""
    stop = threading.Event()

    def poll() -> None:
        try:
            with connect_target(target_url) as conn:
                while not stop.wait(PROGRESS_POLL_SECONDS):
                    row = conn.execute(
                        "SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total"
                        " FROM pg_stat_progress_create_index WHERE pid = %s",
                        (backend_pid,),
                    ).fetchone()
                    if row is None:
                        continue
                    phase, blocks_done, blocks_total, tuples_done, tuples_total = row
                    if tuples_total:
                        listener(IndexProgress(name, phase, int(tuples_done), int(tuples_total)))
                    else:
                        listener(IndexProgress(name, phase, int(blocks_done or 0), int(blocks_total or 0)))
        except psycopg.Error:
            pass  # progress is a courtesy; the build itself reports its own failure

    thread = threading.Thread(target=poll, name=f"pghaul-index-progress-{name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
