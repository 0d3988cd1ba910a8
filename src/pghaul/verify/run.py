"""verify(): inspect both servers, then compare tables, sequences, schema, extensions and vector search.

A standalone verify compares the live source. ``migrate``'s own verification passes what it copied
(:class:`~pghaul.verify.options.Copied`): the tables it already compared while copying, and the snapshot its rows
were read in, so the source is compared as of that moment and writes the application made since are not
reported as differences, but as a change to sync.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace

import psycopg

from pghaul.connect import connect_target
from pghaul.dump.archive import normalized
from pghaul.events import Listener, PhaseFinished, PhaseStarted, ignore
from pghaul.inspect import inspect_catalog
from pghaul.inspect.model import Catalog, QualifiedName, Table, qualified
from pghaul.kinds import Phase
from pghaul.plan import PlanOptions, select_tables
from pghaul.plan.build import refuse_empty_selection
from pghaul.urls import describe_url
from pghaul.verify.dump_diff import diff_dumps
from pghaul.verify.large_objects import compare_large_objects
from pghaul.verify.options import Copied, CopiedSnapshot, VerifyOptions, WriteMark
from pghaul.verify.progress import TablesToVerify
from pghaul.verify.report import (
    LargeObjectCheck,
    SchemaDifference,
    SequenceCheck,
    SourceAsOf,
    TableCheck,
    VectorCheck,
    VerifyReport,
)
from pghaul.verify.schema_diff import TableFilter, compare_extensions, diff_schemas
from pghaul.verify.sequences import check_sequence
from pghaul.verify.table_check import check_table, open_source, prepare_session, verified
from pghaul.verify.vectors import check_vector_index

# The catalogs holding large objects: marked with the copied tables, so objects written since the copy show too.
LARGE_OBJECT_RELATIONS: tuple[QualifiedName, ...] = (
    ("pg_catalog", "pg_largeobject"), ("pg_catalog", "pg_largeobject_metadata"),
)

_MARKS = """
SELECT n.nspname, c.relname, coalesce(pg_catalog.pg_relation_filenode(c.oid), 0),
       pg_catalog.pg_stat_get_tuples_inserted(c.oid) + pg_catalog.pg_stat_get_tuples_updated(c.oid)
       + pg_catalog.pg_stat_get_tuples_deleted(c.oid)
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN ROWS FROM (pg_catalog.unnest(%s::text[]), pg_catalog.unnest(%s::text[])) AS w(nspname, relname)
  ON w.nspname = n.nspname AND w.relname = c.relname
"""


def write_marks(conn: psycopg.Connection, relations: Iterable[QualifiedName]) -> dict[QualifiedName, WriteMark]:
    """Each relation's :class:`WriteMark` now, from the server's statistics (``conn`` in autocommit, so they are
    read afresh); a relation no longer there has none."""
    keys = list(relations)
    rows = conn.execute(_MARKS, ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
    return {(schema, name): WriteMark(int(filenode), int(written)) for schema, name, filenode, written in rows}


def copied_snapshot(
    conn: psycopg.Connection, snapshot_id: str, marks: dict[QualifiedName, WriteMark]
) -> CopiedSnapshot:
    """The moment of ``conn``'s transaction, the one that exported ``snapshot_id``: when (its start, by the
    source's clock), and where the server's transaction ids stood."""
    row = conn.execute(
        "SELECT pg_catalog.now(), pg_catalog.txid_snapshot_xmax(s), ARRAY(SELECT pg_catalog.txid_snapshot_xip(s))"
        " FROM pg_catalog.txid_current_snapshot() AS s"
    ).fetchone()
    assert row is not None
    return CopiedSnapshot(snapshot_id, row[0], int(row[1]), tuple(int(x) for x in row[2]), marks)


def _server_writes_since(conn: psycopg.Connection, snapshot: CopiedSnapshot) -> int:
    """Transactions that wrote on the source server after the snapshot: those given an id since, and those in
    progress then that committed since (``conn`` live, in autocommit)."""
    row = conn.execute(
        "SELECT pg_catalog.txid_snapshot_xmax(pg_catalog.txid_current_snapshot()) - %s"
        " + (SELECT count(*) FROM pg_catalog.unnest(%s::bigint[]) AS x WHERE pg_catalog.txid_status(x) = 'committed')",
        (snapshot.next_xid, list(snapshot.in_progress)),
    ).fetchone()
    return int(row[0])  # type: ignore[index]


def changes_since(
    conn: psycopg.Connection, snapshot: CopiedSnapshot, sequences: list[SequenceCheck], shared_server: bool
) -> SourceAsOf:
    """What the source changed since the copy's snapshot (what a sync has to bring over), read live on ``conn``."""
    now = write_marks(conn, snapshot.marks)
    changed = [f"table {qualified(*key)}" for key, mark in snapshot.marks.items()
               if key not in LARGE_OBJECT_RELATIONS and now.get(key) != mark]
    if any(now.get(key) != snapshot.marks[key] for key in LARGE_OBJECT_RELATIONS if key in snapshot.marks):
        changed.append("large objects")
    changed += [f"sequence {s.sequence}" for s in sequences if s.moved_on]
    writes = None if shared_server else _server_writes_since(conn, snapshot)
    return SourceAsOf(snapshot.taken_at, tuple(changed), writes)


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
    *,
    copied: Copied | None = None,
) -> VerifyReport:
    """Compare target with source; never writes to either. Differences are reported, not raised.

    Per table: exact row counts and per-key-range checksums computed in each database. Then sequence positions,
    the schema diff of both inspected catalogs, extension versions, and exact nearest-neighbour answers for
    every pgvector index, and every large object (size, checksum, comment). Connection failures raise
    :class:`pghaul.errors.ConnectionFailed`.

    ``copied`` is for ``migrate``'s own verification (see :class:`~pghaul.verify.options.Copied`): its snapshot
    must stay exported until this returns.
    """
    started = time.monotonic()
    copied = copied or Copied()
    report = VerifyReport(describe_url(source_url), describe_url(target_url))
    # One session on the source, live or in the copy's snapshot (then its catalog is the one copied, too); what
    # no snapshot holds still reads as it is now there: sequence positions, statistics.
    snapshot_id = copied.snapshot.snapshot_id if copied.snapshot is not None else None
    with open_source(source_url, snapshot_id) as source, connect_target(target_url) as target:
        # Once both servers answered: a retry tells a server gone away from a misnamed one by this first event.
        listener(PhaseStarted(Phase.VERIFY, f"{report.source} -> {report.target}"))
        prepare_session(target)
        # In a snapshot the transaction ids stand still: this measures writes only while comparing live.
        xid_horizon = _next_transaction_id(source)
        # One worker: the target's side of each comparison runs there while this thread does the source's,
        # starting with the catalogs (each inspection is mostly a pg_dump of its own server).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pghaul-verify") as pool:
            target_inspected = pool.submit(inspect_catalog, target)
            source_catalog = inspect_catalog(source)
            target_catalog = target_inspected.result()
            _Comparison(source, target, source_catalog, target_catalog, options, copied, listener, pool,
                        report).run()
        report.source_transactions_during_verify = _next_transaction_id(source) - xid_horizon
        shared_server = source_catalog.server.system_identifier == target_catalog.server.system_identifier
    if copied.snapshot is not None and options.data:
        # Read live, once the comparison's session is gone (one source session at a time).
        with open_source(source_url, None) as live:
            report.as_of = changes_since(live, copied.snapshot, report.sequences, shared_server)
    report.seconds = time.monotonic() - started
    listener(PhaseFinished(Phase.VERIFY, report.seconds))
    return report


@dataclass
class _Comparison:
    """One verification's sessions, catalogs and report; a method per kind of thing compared."""

    source: psycopg.Connection  # live (autocommit), or one transaction in the copy's snapshot
    target: psycopg.Connection
    source_catalog: Catalog
    target_catalog: Catalog
    options: VerifyOptions
    copied: Copied
    listener: Listener
    pool: ThreadPoolExecutor
    report: VerifyReport

    def __post_init__(self) -> None:
        # The tables of the run, resolved the way the plan resolves them (a partition goes with its parent).
        selection = PlanOptions(self.options.include, self.options.exclude)
        self.selected = set(select_tables(self.source_catalog, selection))
        refuse_empty_selection(self.source_catalog, self.selected, selection)

    def wants(self, schema: str, table: str) -> bool:
        return (schema, table) in self.selected

    def run(self) -> None:
        report, options = self.report, self.options
        if options.data:
            report.tables = self.tables()
            report.sequences = self.sequences()
        if options.schema:
            report.schema_diff = _diff_schema(self.source_catalog, self.target_catalog, self.wants, options)
        report.extensions = compare_extensions(self.source_catalog, self.target_catalog)
        if options.data:
            report.vector_checks = self.vectors()
            report.large_objects = self.large_objects()

    def _apart(self) -> AbstractContextManager[object]:
        """Each check on the snapshot's session in a savepoint rolled back after: a failed read leaves the
        transaction usable, and what a check sets for its queries (vector search turns index scans off) ends
        with it. The live session is in autocommit: each check's reads are their own transactions there."""
        return nullcontext() if self.source.autocommit else self.source.transaction(force_rollback=True)

    def tables(self) -> list[TableCheck]:
        done = self.copied.tables
        to_check = sorted(
            (t for t in self.source_catalog.copyable_tables() if self.wants(t.schema, t.name) and t.key not in done),
            key=lambda t: t.key,
        )
        if to_check or not done:
            # Counted anew only when some are left: after migrate checked them all, its count stands.
            self.listener(TablesToVerify(len(to_check)))
        checks = dict(done)
        for table in to_check:
            checks[table.key] = self.check(table)
        return [checks[key] for key in sorted(checks)]

    def check(self, table: Table) -> TableCheck:
        began = time.monotonic()
        with self._apart():
            check = check_table(self.source, self.target, table, table.key in self.target_catalog.tables,
                                self.pool, self.options.rows_per_range, self.options.max_ranges)
        self.listener(verified(check, time.monotonic() - began))
        return check

    def sequences(self) -> list[SequenceCheck]:
        copied = self.copied.snapshot.sequences if self.copied.snapshot is not None else {}
        out = []
        for key, sequence in sorted(self.source_catalog.sequences.items()):
            if sequence.owned_by is not None:
                if not self.wants(sequence.owned_by[0], sequence.owned_by[1]):
                    continue
            elif self.options.include:
                # A standalone sequence belongs to no table: a run limited to some tables did not set it.
                continue
            # Read as they are now on both sides, in a snapshot too: sequences are not transactional.
            with self._apart():
                check = check_sequence(self.source, self.target, sequence, key in self.target_catalog.sequences)
            if key in copied:
                check = replace(check, copied=copied[key], increment=sequence.increment)
            out.append(check)
        return out

    def vectors(self) -> list[VectorCheck]:
        out = []
        for _key, index in sorted(self.source_catalog.indexes.items()):
            if not index.is_vector or not self.wants(index.table_schema, index.table):
                continue
            # A partition's index mirrors its parent's; the partition's own rows are checked through it.
            table_key = (index.table_schema, index.table)
            if table_key not in self.source_catalog.tables or self.source_catalog.tables[table_key].is_partitioned:
                continue
            with self._apart():
                out.append(check_vector_index(
                    self.source, self.target, self.source_catalog, index, table_key in self.target_catalog.tables,
                    self.options.vector_samples, self.options.vector_k, self.pool,
                ))
        return out

    def large_objects(self) -> LargeObjectCheck:
        if self.options.include:
            # Large objects belong to no table: a run limited to some tables says so instead of comparing them.
            return LargeObjectCheck(note="verification was limited to some tables")
        with self._apart():
            return compare_large_objects(self.source, self.target, self.pool)


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
