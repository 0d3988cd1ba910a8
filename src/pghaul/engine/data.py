"""The data stage's decisions: how many workers, which ranges each table is split into, which post-data steps
each table (or partition tree) builds as soon as its rows are in. The copying itself is :mod:`pghaul.copy`'s."""

from __future__ import annotations

import os
from collections.abc import Callable

import psycopg

from pghaul.copy import state
from pghaul.copy.binary_io import binary_copy
from pghaul.copy.parallel import StepBatch, TableJob, batches_for
from pghaul.copy.ranges import estimate_rows, split_points
from pghaul.copy.replica_role import ReplicaRoleNeed
from pghaul.copy.table_data import target_has_rows
from pghaul.engine.options import MAX_DEFAULT_WORKERS, SPLIT_BYTES, WATCH_INDEX_BUILDS_FROM_BYTES, MigrateOptions
from pghaul.errors import UsageError
from pghaul.inspect.model import Catalog, QualifiedName, Table
from pghaul.plan import Step

Notify = Callable[..., None]  # MigrationRun.notice: (message, level="info", details=None)


def _free_connections(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
        " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
    ).fetchone()
    return int(row[0]) if row else 1


def default_workers(src: psycopg.Connection, tgt: psycopg.Connection) -> int:
    """One per core, at most 8, leaving the servers half of their free connections (each worker takes one on
    each side, plus one for index progress)."""
    cores = os.cpu_count() or 2
    free = min(_free_connections(src), _free_connections(tgt)) // 2
    return max(1, min(cores, MAX_DEFAULT_WORKERS, free))


def partition_root(catalog: Catalog, key: QualifiedName) -> QualifiedName:
    table = catalog.tables.get(key)
    while table is not None and table.partition_of is not None and table.partition_of in catalog.tables:
        table = catalog.tables[table.partition_of]
    return table.key if table is not None else key


def copy_tree(catalog: Catalog) -> dict[QualifiedName, set[QualifiedName]]:
    """For every table: the tables holding its rows (itself, or a partitioned table's leaf partitions)."""
    children: dict[QualifiedName, list[QualifiedName]] = {}
    for t in catalog.tables.values():
        if t.partition_of is not None:
            children.setdefault(t.partition_of, []).append(t.key)

    def leaves(key: QualifiedName) -> set[QualifiedName]:
        table = catalog.tables[key]
        out = {key} if table.kind == "r" else set()
        for child in children.get(key, []):
            out |= leaves(child)
        return out

    return {key: leaves(key) for key in catalog.tables}


def step_batches(
    source_catalog: Catalog, copy_tables: list[Table], post_steps: list[Step]
) -> tuple[dict[QualifiedName, list[StepBatch]], dict[QualifiedName, set[QualifiedName]]]:
    """The post-data steps the data phase runs early, per owner, and the copied tables each owner waits for.
    A partition's indexes attach to its parent's, so they are built with the partition tree's root."""
    tree = copy_tree(source_catalog)
    copied = {t.key for t in copy_tables}

    def large(owner: QualifiedName) -> bool:
        size = sum(source_catalog.tables[k].size_bytes for k in tree.get(owner, set()))
        return size >= WATCH_INDEX_BUILDS_FROM_BYTES

    batches = batches_for(post_steps, lambda key: partition_root(source_catalog, key), large)
    owners = {owner: tree.get(owner, set()) & copied for owner in batches}
    early = {o: b for o, b in batches.items() if owners[o]}
    return early, {o: ts for o, ts in owners.items() if ts}


def table_jobs(
    reader: psycopg.Connection,
    tgt: psycopg.Connection,
    tables: list[Table],
    target_catalog: Catalog,
    options: MigrateOptions,
    workers: int,
    job_id: str,
) -> list[TableJob]:
    """Existing checkpoints, or new ranges recorded before any row moves (so a resumed run uses the same ones)."""
    jobs = []
    for table in tables:
        target_table = target_catalog.tables.get(table.key)
        if target_table is None:
            raise UsageError(
                f"table {table.display_name} does not exist on the target",
                "run without --data-only so pghaul creates the schema first",
            )
        binary = binary_copy(reader, tgt, table, target_table)
        ranges = state.load_ranges(tgt, table)
        if ranges:
            estimate = sum(r.rows_estimated for r in ranges) or table.rows_estimated
        else:
            estimate = estimate_rows(reader, table)
            parts = 1
            big = estimate > options.split_rows or table.size_bytes > SPLIT_BYTES
            if table.primary_key and workers > 1 and big:
                parts = min(workers * 4, max(2, estimate // options.split_rows, table.size_bytes // SPLIT_BYTES))
            bounds = split_points(reader, table, estimate, parts)
            overlap = bool(table.primary_key) and target_has_rows(tgt, table)
            with tgt.transaction():
                ranges = state.create_ranges(tgt, table, bounds, overlap, estimate, job_id)
        jobs.append(TableJob(table, tuple(ranges), binary, estimate, rate=options.source_rate))
    return jobs


def listed(names: list[str] | tuple[str, ...]) -> list[str]:
    return list(names[:50]) + (["…"] if len(names) > 50 else [])


def replica_notices(replica: ReplicaRoleNeed, notice: Notify) -> None:
    if replica.foreign_keys:
        notice(
            "foreign keys on the target were not re-checked for the copied rows: they come from a source that "
            "enforced them",
            details=listed(replica.foreign_keys),
        )
    if replica.triggers:
        notice("triggers on the target did not fire for the copied rows (the copy runs as a replica would)",
               details=listed(replica.triggers))
    if replica.still_firing:
        notice("these triggers are enabled ALWAYS or REPLICA, so they fired for every copied row", "warning",
               list(replica.still_firing))
