"""verify(): inspect both servers, then compare tables, sequences, schema, extensions and vector search."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

from pghaul.connect import connect_source, connect_target
from pghaul.dump.archive import normalized
from pghaul.events import Listener, PhaseFinished, PhaseStarted, ignore
from pghaul.inspect import inspect_catalog
from pghaul.inspect.model import Catalog
from pghaul.kinds import Phase
from pghaul.plan import PlanOptions, select_tables
from pghaul.urls import describe_url
from pghaul.verify.dump_diff import diff_dumps
from pghaul.verify.large_objects import compare_large_objects
from pghaul.verify.options import VerifyOptions
from pghaul.verify.progress import TablesToVerify, TableVerified
from pghaul.verify.report import LargeObjectCheck, SchemaDifference, SequenceCheck, VectorCheck, VerifyReport
from pghaul.verify.schema_diff import TableFilter, compare_extensions, diff_schemas
from pghaul.verify.sequences import check_sequence
from pghaul.verify.session import pin_output_settings
from pghaul.verify.table_check import check_table
from pghaul.verify.vectors import check_vector_index


def _prepare(conn: psycopg.Connection) -> None:
    pin_output_settings(conn)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    # Verification never writes, on either side.
    conn.read_only = True


def _next_transaction_id(conn: psycopg.Connection) -> int:
    """The source server's next transaction id: if it moves while we read, the source is being written to."""
    # The txid_* spellings exist on every supported version (pg_current_snapshot() only from 13).
    row = conn.execute("SELECT pg_catalog.txid_snapshot_xmax(pg_catalog.txid_current_snapshot())").fetchone()
    return int(row[0])  # type: ignore[index]


def verify(
    source_url: str,
    target_url: str,
    options: VerifyOptions = VerifyOptions(),  # frozen: sharing the default is safe
    listener: Listener = ignore,
) -> VerifyReport:
    """Compare target with source; never writes to either. Differences are reported, not raised.

    Per table: exact row counts and per-key-range checksums computed in each database. Then sequence positions,
    the schema diff of both inspected catalogs, extension versions, and exact nearest-neighbour answers for
    every pgvector index, and every large object (size, checksum, comment). Connection failures raise
    :class:`pghaul.errors.ConnectionFailed`.
    """
    started = time.monotonic()
    listener(PhaseStarted(Phase.VERIFY, f"{describe_url(source_url)} -> {describe_url(target_url)}"))
    report = VerifyReport(describe_url(source_url), describe_url(target_url))
    with connect_source(source_url) as source, connect_target(target_url) as target:
        _prepare(source)
        _prepare(target)
        xid_horizon = _next_transaction_id(source)
        source_catalog = inspect_catalog(source)
        target_catalog = inspect_catalog(target)
        # The tables of the run, resolved the way the plan resolves them (a partition goes with its parent).
        selected = set(select_tables(source_catalog, PlanOptions(options.include, options.exclude)))

        def wants(schema: str, table: str) -> bool:
            return (schema, table) in selected

        # One worker: the target's side of each comparison runs there while this thread does the source's.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pghaul-verify") as pool:
            if options.data:
                _check_tables(source, target, source_catalog, target_catalog, options, wants, listener, report, pool)
                report.sequences = _check_sequences(source, target, source_catalog, target_catalog, options, wants)
            if options.schema:
                report.schema_diff = _diff_schema(source_catalog, target_catalog, wants, options)
            report.extensions = compare_extensions(source_catalog, target_catalog)
            if options.data:
                report.vector_checks = _check_vectors(
                    source, target, source_catalog, target_catalog, options, wants, pool
                )
                report.large_objects = _check_large_objects(source, target, options, pool)
        report.source_transactions_during_verify = _next_transaction_id(source) - xid_horizon
    report.seconds = time.monotonic() - started
    listener(PhaseFinished(Phase.VERIFY, report.seconds))
    return report


def _diff_schema(
    source: Catalog, target: Catalog, wants: TableFilter, options: VerifyOptions
) -> list[SchemaDifference]:
    """The catalog diff, with its detail, then every other object pg_dump writes. A definition the catalog
    diff finds different but pg_dump's archives find equal (or made by pghaul from it) is the same object
    printed by two server versions."""
    subset = bool(options.include or options.exclude)
    dumped, equal = diff_dumps(source, target, wants, subset)
    detailed = [d for d in diff_schemas(source, target, wants, subset=subset)
                if not (d.change == "differs" and set(d.fields) <= {"definition"} and normalized(d.name) in equal)]
    named = {d.name for d in detailed}
    return detailed + [d for d in dumped if d.name not in named]


def _check_tables(
    source: psycopg.Connection,
    target: psycopg.Connection,
    source_catalog: Catalog,
    target_catalog: Catalog,
    options: VerifyOptions,
    wants: TableFilter,
    listener: Listener,
    report: VerifyReport,
    pool: ThreadPoolExecutor,
) -> None:
    tables = sorted(
        (t for t in source_catalog.copyable_tables() if wants(t.schema, t.name)), key=lambda t: t.key
    )
    listener(TablesToVerify(len(tables)))
    for table in tables:
        began = time.monotonic()
        check = check_table(
            source,
            target,
            table,
            table.key in target_catalog.tables,
            pool,
            options.rows_per_range,
            options.max_ranges,
        )
        report.tables.append(check)
        listener(
            TableVerified(
                check.table,
                check.rows_source,
                check.rows_target,
                check.ok,
                len(check.differing_ranges),
                time.monotonic() - began,
            )
        )


def _check_sequences(
    source: psycopg.Connection,
    target: psycopg.Connection,
    source_catalog: Catalog,
    target_catalog: Catalog,
    options: VerifyOptions,
    wants: TableFilter,
) -> list[SequenceCheck]:
    out = []
    for key, sequence in sorted(source_catalog.sequences.items()):
        if sequence.owned_by is not None:
            if not wants(sequence.owned_by[0], sequence.owned_by[1]):
                continue
        elif options.include:
            # A standalone sequence belongs to no table: a run limited to some tables did not set it.
            continue
        out.append(check_sequence(source, target, sequence, key in target_catalog.sequences))
    return out


def _check_vectors(
    source: psycopg.Connection,
    target: psycopg.Connection,
    source_catalog: Catalog,
    target_catalog: Catalog,
    options: VerifyOptions,
    wants: TableFilter,
    pool: ThreadPoolExecutor,
) -> list[VectorCheck]:
    out = []
    for _key, index in sorted(source_catalog.indexes.items()):
        if not index.is_vector or not wants(index.table_schema, index.table):
            continue
        # A partition's index mirrors its parent's; the partition's own rows are checked through it.
        table_key = (index.table_schema, index.table)
        if table_key not in source_catalog.tables or source_catalog.tables[table_key].is_partitioned:
            continue
        out.append(
            check_vector_index(
                source,
                target,
                source_catalog,
                index,
                table_key in target_catalog.tables,
                options.vector_samples,
                options.vector_k,
                pool,
            )
        )
    return out


def _check_large_objects(
    source: psycopg.Connection, target: psycopg.Connection, options: VerifyOptions, pool: ThreadPoolExecutor
) -> LargeObjectCheck:
    if options.include:
        # Large objects belong to no table: a run limited to some tables says so instead of comparing them.
        return LargeObjectCheck(note="verification was limited to some tables")
    return compare_large_objects(source, target, pool)
