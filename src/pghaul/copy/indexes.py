"""Building post-data steps the way bulk loads want: vector indexes with memory, and progress while they build.

An HNSW build is many times faster when its graph fits ``maintenance_work_mem`` (16 s with 1 GB against 60 s
with the default 64 MB for 100k × 384 on 2 cores; pgvector says so with the NOTICE "hnsw graph no longer fits
into maintenance_work_mem"), so vector index steps run with a setting sized to the graph, one at a time so that
memory stays bounded, and with parallel maintenance workers where pgvector's parallel build is safe (0.6.0–0.8.1
had a parallel HNSW build bug, fixed in 0.8.2).

How much memory: the graph of an HNSW build holds, per row, a copy of the vector plus its neighbour lists
(2·m candidates at layer 0, m per upper layer, on average 1/(m−1) upper layers; ~16 bytes a candidate) and an
element header. The vector's bytes are taken from the table on the target (its size over its rows: an upper
bound, since other columns count too, which only errs towards enough). The estimate gets headroom and is never
below what the server already has. It is then capped by what the target can afford, because a serial build
allocates as the graph grows but a parallel build reserves the whole setting as dynamic shared memory up front:
- where the role may read ``/proc/meminfo`` (superuser or pg_read_server_files) a quarter of the machine's RAM
  (shared_buffers and the other backends live in the rest);
- otherwise 1 GB, safe on the small managed servers where that file is out of reach.
A ``maintenance_work_mem`` the user gives always wins. IVFFlat's k-means samples fit the same bound.
Parallel workers: at most one fewer than the target's cores where ``/proc/cpuinfo`` is readable (the leader builds
too), at most 4, and never more than ``max_parallel_workers``.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from pghaul.connect import connect_target
from pghaul.events import IndexProgress, Listener
from pghaul.versions import version_key

# Names may come quoted (pg_dump's statements are printed with every identifier quoted).
_WITH_OPTIONS = re.compile(r"\bWITH\s*\(([^)]*)\)", re.IGNORECASE)
_M_OPTION = re.compile(r"""(?<![\w"])"?m"?\s*=\s*'?(\d+)""", re.IGNORECASE)
_MEM_TOTAL = re.compile(r"^MemTotal:\s+(\d+)\s+kB", re.MULTILINE)

# Cap for the automatic choice where the target's RAM cannot be read: managed servers are often small.
MAX_AUTO_MAINTENANCE_WORK_MEM_KB = 1024 * 1024
# Share of the target's RAM a build may take when the RAM is known.
RAM_FRACTION = 0.25
MAX_PARALLEL_BUILD_WORKERS = 4
PARALLEL_HNSW_SAFE_FROM = "0.8.2"
PROGRESS_POLL_SECONDS = 0.5
DEFAULT_HNSW_M = 16
CANDIDATE_BYTES = 16
ELEMENT_OVERHEAD_BYTES = 128
GRAPH_HEADROOM = 1.3
GRAPH_SLACK_KB = 16 * 1024
# pgvector's words when the graph outgrows maintenance_work_mem and the build slows down.
NO_LONGER_FITS = "no longer fits into maintenance_work_mem"


@dataclass(frozen=True)
class VectorBuildSettings:
    maintenance_work_mem_kb: int
    parallel_workers: int
    # How the memory was chosen, for the notice: "requested", "estimated", "capped", "configured" or "default".
    reason: str = "default"
    graph_estimate_kb: int | None = None
    cap_kb: int | None = None
    details: list[str] = field(default_factory=list)

    def settings(self) -> list[tuple[str, str]]:
        return [
            ("maintenance_work_mem", f"{self.maintenance_work_mem_kb}kB"),
            ("max_parallel_maintenance_workers", str(self.parallel_workers)),
        ]

    def describe(self) -> str:
        mb = self.maintenance_work_mem_kb / 1024
        text = f"maintenance_work_mem {mb:,.0f} MB ({self.reason})"
        if self.graph_estimate_kb is not None:
            text += f", graph estimated at {self.graph_estimate_kb / 1024:,.0f} MB"
        return text + f", {self.parallel_workers} parallel maintenance worker(s)"


def _read_server_file(conn: psycopg.Connection, path: str) -> str | None:
    """A file of the target's machine, when the role may read it (superuser or pg_read_server_files)."""
    try:
        with conn.transaction():
            row = conn.execute("SELECT pg_read_file(%s)", (path,)).fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row and row[0] is not None else None


def target_memory_cap_kb(conn: psycopg.Connection) -> tuple[int, str]:
    meminfo = _read_server_file(conn, "/proc/meminfo")
    found = _MEM_TOTAL.search(meminfo or "")
    if found:
        return int(int(found.group(1)) * RAM_FRACTION), "a quarter of the target's RAM"
    return MAX_AUTO_MAINTENANCE_WORK_MEM_KB, "the cap for a target whose RAM cannot be read"


def target_cores(conn: psycopg.Connection) -> int | None:
    cpuinfo = _read_server_file(conn, "/proc/cpuinfo")
    if not cpuinfo:
        return None
    return len(re.findall(r"^processor\s*:", cpuinfo, re.MULTILINE)) or None


def hnsw_m(step_sql: str) -> int:
    options = _WITH_OPTIONS.search(step_sql)
    found = _M_OPTION.search(options.group(1)) if options else None
    return int(found.group(1)) if found else DEFAULT_HNSW_M


def estimate_graph_kb(rows: int, row_bytes: int, m: int = DEFAULT_HNSW_M) -> int:
    """Bytes of an HNSW build graph for ``rows`` vectors of at most ``row_bytes`` each, with headroom, in kB."""
    upper_layers = 1 / (m - 1) if m > 1 else 1.0
    neighbours = (2 * m + m * upper_layers) * CANDIDATE_BYTES
    per_element = row_bytes + neighbours + ELEMENT_OVERHEAD_BYTES
    return math.ceil(rows * per_element * GRAPH_HEADROOM / 1024) + GRAPH_SLACK_KB


def choose_vector_settings(
    conn: psycopg.Connection,
    requested_kb: int | None = None,
    *,
    table: tuple[str, str] | None = None,
    rows: int | None = None,
    step_sql: str = "",
) -> VectorBuildSettings:
    """Memory and workers for one vector index build on ``table`` of the target (see the module docstring).

    ``rows`` is what pghaul copied into the table; without it the rows are counted on the target.
    Without a table the choice falls back to twice shared_buffers, capped like an estimate.
    """
    row = conn.execute(
        "SELECT pg_size_bytes(current_setting('maintenance_work_mem')),"
        " pg_size_bytes(current_setting('shared_buffers')), current_setting('max_parallel_workers')::int,"
        " (SELECT extversion FROM pg_extension WHERE extname = 'vector')"
    ).fetchone()
    assert row is not None
    current_kb = int(row[0]) // 1024
    shared_kb = int(row[1]) // 1024
    version = row[3]
    safe = version is not None and version_key(version) >= version_key(PARALLEL_HNSW_SAFE_FROM)
    workers = min(int(row[2]), MAX_PARALLEL_BUILD_WORKERS) if safe else 0
    cores = target_cores(conn) if workers else None
    if cores is not None:
        workers = min(workers, max(cores - 1, 0))
    if requested_kb is not None:
        return VectorBuildSettings(requested_kb, workers, "requested")
    cap_kb, cap_why = target_memory_cap_kb(conn)
    estimate_kb: int | None = None
    if table is not None:
        rows, table_bytes = _table_size(conn, table, rows)
        if rows:
            estimate_kb = estimate_graph_kb(rows, max(table_bytes // rows, 1), hnsw_m(step_sql))
    wanted = estimate_kb if estimate_kb is not None else 2 * shared_kb
    if wanted <= current_kb:
        return VectorBuildSettings(current_kb, workers, "configured", estimate_kb, cap_kb)
    if wanted > cap_kb:
        return VectorBuildSettings(max(current_kb, cap_kb), workers, f"capped at {cap_why}", estimate_kb, cap_kb)
    return VectorBuildSettings(wanted, workers, "estimated" if estimate_kb else "default", estimate_kb, cap_kb)


def _table_size(conn: psycopg.Connection, table: tuple[str, str], rows: int | None) -> tuple[int, int]:
    """Rows and bytes of the table, a partitioned one's partitions included. Rows are counted when not given:
    reltuples lags right after a bulk load, and the build is about to read every row anyway."""
    ident = sql.Identifier(*table)
    found = conn.execute(
        # pg_partition_tree lists nothing for a table that is not partitioned.
        "SELECT coalesce((SELECT sum(pg_table_size(relid))::bigint FROM pg_partition_tree(%s::regclass)"
        " WHERE isleaf), pg_table_size(%s::regclass))",
        (ident.as_string(conn), ident.as_string(conn)),
    ).fetchone()
    table_bytes = int(found[0] or 0) if found else 0
    if rows is None:
        counted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()
        rows = int(counted[0]) if counted else 0
    return rows, table_bytes


@contextmanager
def session_settings(conn: psycopg.Connection, settings: list[tuple[str, str]]) -> Iterator[None]:
    """Settings for the block; the session's own values come back after it."""
    before: list[tuple[str, str]] = []
    for name, value in settings:
        row = conn.execute("SELECT current_setting(%s), set_config(%s, %s, false)", (name, name, value)).fetchone()
        before.append((name, str(row[0]) if row else ""))
    try:
        yield
    finally:
        if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            for name, value in before:
                conn.execute("SELECT set_config(%s, %s, false)", (name, value))


@contextmanager
def graph_fit_warnings(conn: psycopg.Connection) -> Iterator[list[str]]:
    """Collects pgvector's NOTICE that the graph outgrew maintenance_work_mem while the block runs on ``conn``."""
    seen: list[str] = []

    def handler(diag: psycopg.errors.Diagnostic) -> None:
        message = diag.message_primary or ""
        if NO_LONGER_FITS in message:
            seen.append(message + (f" ({diag.message_detail})" if diag.message_detail else ""))

    conn.add_notice_handler(handler)
    try:
        yield seen
    finally:
        conn.remove_notice_handler(handler)


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
