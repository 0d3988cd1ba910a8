"""sync(): bring a migrated target up to date with everything that changed on the source since.

In order: the checks (nothing written if one refuses); new tables, created and copied by ``migrate`` itself;
new columns; then, under the target's migration lock and in one exported snapshot of the source, every table
compared range by range and the differing ranges replaced; ranges refused for order reasons tried again; large
objects; sequences moved forward. The report says what was compared and what changed. The snapshot may also be
given (``SyncOptions.snapshot_id``): follow on a migrated target syncs in its replication slot's.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg

from pghaul.connect import connect_source, connect_target
from pghaul.copy.binary_io import binary_copy
from pghaul.copy.sequences import read_positions, selected_sequences
from pghaul.copy.snapshot import SnapshotHolder
from pghaul.engine import jobs
from pghaul.engine.data import default_workers
from pghaul.engine.options import MigrateOptions
from pghaul.engine.run import migrate, serialized
from pghaul.errors import PghaulError, check_cancelled
from pghaul.events import Listener, Notice, PhaseFinished, PhaseStarted, ignore
from pghaul.inspect import inspect_catalog
from pghaul.inspect.model import Catalog, Table
from pghaul.kinds import Phase, SyncMethod
from pghaul.sync import row_versions
from pghaul.sync.large_objects import sync_large_objects
from pghaul.sync.options import SyncOptions
from pghaul.sync.preparation import Prepared, check_sync_options, may_use_replica_role, prepare, triggers_to_quiet
from pghaul.sync.progress import SyncFinished, TablesToSync, TableSynced
from pghaul.sync.report import SyncReport, TableSync
from pghaul.sync.schema_changes import add_column
from pghaul.sync.sequences import advance_sequences
from pghaul.sync.tables import ORDER_DEPENDENT, TableOutcome, TableWork, apply_range, error_message, sync_table
from pghaul.sync.workers import worker_sessions
from pghaul.urls import describe_url
from pghaul.verify.session import pin_output_settings

RESUME = "run the same sync again: what was committed stays, and it compares the rest again"


@dataclass(frozen=True)
class SyncContext:
    source_url: str
    target_url: str
    options: SyncOptions
    emit: Listener
    cancel: threading.Event | None


def _add_columns(ctx: SyncContext, prepared: Prepared) -> list[str]:
    with connect_target(ctx.target_url) as tgt:
        jobs.lock_target(tgt)
        for new in prepared.changes.new_columns:
            add_column(tgt, new)
        # Rows were not rewritten on the source when the column came: only the checksums can tell their values.
        row_versions.record_baselines(tgt, [new.table for new in prepared.changes.new_columns], None)
    return [new.name for new in prepared.changes.new_columns]


def _create_tables(ctx: SyncContext, tables: list[Table]) -> list[str]:
    """New tables on the source: created and filled by ``migrate`` itself over the sync's whole selection, so
    their foreign keys to tables already there come too; the tables it copied before keep their rows (their
    checkpoints say they are done) and the objects already there are skipped."""
    options = MigrateOptions(include=ctx.options.include, exclude=ctx.options.exclude, verify=False,
                             workers=ctx.options.workers, max_rate=ctx.options.max_rate)
    migrate(ctx.source_url, ctx.target_url, options, ctx.emit, ctx.cancel)
    return [t.display_name for t in tables]


def _table_works(ctx: SyncContext, prepared: Prepared, target: Catalog, replica: bool,
                 src: psycopg.Connection, tgt: psycopg.Connection) -> list[TableWork]:
    """What each table's sync needs, decided once on the run's own sessions."""
    works = []
    baselines = {} if ctx.options.full else row_versions.load_baselines(tgt)
    for key, table in sorted(prepared.selected.items()):
        if table.kind != "r":
            continue
        quiet = () if replica else triggers_to_quiet(target, table)
        works.append(TableWork(table, binary_copy(src, tgt, table, target.tables.get(key)),
                               SyncMethod.CHECKSUM, quiet, baselines.get(key), ctx.options.source_rate))
    # Biggest first, so the longest table does not start last.
    return sorted(works, key=lambda w: -w.table.size_bytes)


def _table_pass(ctx: SyncContext, works: list[TableWork], snapshot_id: str | None, replica: bool,
                workers: int) -> tuple[list[TableOutcome], bool]:
    """Every table, ``workers`` at a time; also whether every reader read in the snapshot."""
    todo: queue.SimpleQueue[TableWork] = queue.SimpleQueue()
    for work in works:
        todo.put(work)
    outcomes: list[TableOutcome] = []
    outside_snapshot: list[bool] = []

    def worker() -> None:
        with worker_sessions(ctx.source_url, ctx.target_url, snapshot_id, replica) as sessions:
            if not sessions.in_snapshot:
                outside_snapshot.append(True)
            while True:
                try:
                    work = todo.get_nowait()
                except queue.Empty:
                    return
                check_cancelled(ctx.cancel, f"stopped before syncing {work.table.display_name}", RESUME)
                outcome = sync_table(sessions.src, sessions.tgt, work, ctx.options, sessions.pool, ctx.cancel)
                outcomes.append(outcome)
                ctx.emit(_synced_event(outcome))

    with ThreadPoolExecutor(max(1, min(workers, len(works))), thread_name_prefix="pghaul-sync") as pool:
        for future in [pool.submit(worker) for _ in range(max(1, min(workers, len(works))))]:
            future.result()
    return outcomes, not outside_snapshot


def _synced_event(outcome: TableOutcome) -> TableSynced:
    c = outcome.change
    return TableSynced(outcome.work.table.display_name, outcome.method, outcome.ranges_compared,
                       len(outcome.leaves), c.inserted, c.updated, c.deleted, round(outcome.seconds, 3))


def _retry_deferred(ctx: SyncContext, outcomes: list[TableOutcome], snapshot_id: str | None, replica: bool) -> None:
    """Ranges the target refused for order reasons (a parent row not there yet), again until none is left or a
    round makes no progress: then the sync fails, naming the constraint, and nothing is reported as synced."""
    with worker_sessions(ctx.source_url, ctx.target_url, snapshot_id, replica) as sessions:
        while any(o.deferred for o in outcomes):
            progress = False
            for outcome in outcomes:
                waiting, outcome.deferred = outcome.deferred, []
                for bounds, _ in waiting:
                    try:
                        outcome.change += apply_range(sessions.src, sessions.tgt, outcome.work, bounds)
                        progress = True
                    except ORDER_DEPENDENT as exc:
                        outcome.deferred.append((bounds, error_message(exc)))
            if not progress:
                reasons = sorted({r for o in outcomes for _, r in o.deferred})
                raise PghaulError(
                    f"the target refused some changed rows: {'; '.join(reasons[:5])}",
                    "the target's constraints differ from the source's, or the source changed while syncing; "
                    + RESUME,
                )


def _report_tables(outcomes: list[TableOutcome]) -> list[TableSync]:
    return sorted((TableSync(o.work.table.display_name, o.method, o.ranges_compared, len(o.leaves),
                             o.change.inserted, o.change.updated, o.change.deleted, round(o.seconds, 3))
                   for o in outcomes), key=lambda t: t.table)


class SyncRun:
    def __init__(self, ctx: SyncContext, prepared: Prepared, report: SyncReport) -> None:
        self.ctx = ctx
        self.prepared = prepared
        self.report = report

    def run(self) -> None:
        ctx = self.ctx
        with connect_source(ctx.source_url) as src, connect_target(ctx.target_url) as tgt:
            jobs.lock_target(tgt)
            target = inspect_catalog(tgt, with_dump=False)
            tables = [t for t in self.prepared.selected.values() if t.kind == "r"]
            replica = may_use_replica_role(tgt, target, tables)
            workers = ctx.options.workers or default_workers(src, tgt)
            holder = self._holder()
            try:
                in_snapshot = self._tables(target, holder.snapshot_id, replica, workers, src, tgt)
                if ctx.options.snapshot_id and not (in_snapshot and holder.snapshot_id):
                    raise PghaulError(
                        "a sync reader could not import the snapshot it was given: some rows were read at a later "
                        "moment", RESUME)
                # The tables now equal the source as of the snapshot: the next sync may start from its row versions.
                xmin = row_versions.snapshot_xmin(holder.conn) if in_snapshot and holder.snapshot_id else None
                row_versions.record_baselines(tgt, [t for t in tables], xmin)
                self._large_objects(holder.conn, tgt, holder.snapshot_id)
            finally:
                holder.close()
            self._sequences(src, tgt)

    def _holder(self) -> SnapshotHolder:
        """The sync's snapshot; with ``options.snapshot_id``, the caller's, taken and exported again."""
        given = self.ctx.options.snapshot_id
        try:
            return SnapshotHolder(self.ctx.source_url, imported=given)
        except psycopg.Error as exc:
            if not given:
                raise
            raise PghaulError("sync cannot read in the snapshot it was given: the transaction that exported it "
                              "has ended", "keep that transaction open until the sync returns") from exc

    def _tables(self, target: Catalog, snapshot_id: str | None, replica: bool, workers: int,
                src: psycopg.Connection, tgt: psycopg.Connection) -> bool:
        works = _table_works(self.ctx, self.prepared, target, replica, src, tgt)
        self.ctx.emit(TablesToSync(len(works)))
        outcomes, in_snapshot = _table_pass(self.ctx, works, snapshot_id, replica, workers)
        _retry_deferred(self.ctx, outcomes, snapshot_id, replica)
        self.report.tables = _report_tables(outcomes)
        return in_snapshot

    def _large_objects(self, src_in_snapshot: psycopg.Connection, tgt: psycopg.Connection,
                       snapshot_id: str | None) -> None:
        ctx = self.ctx
        if ctx.options.include or ctx.options.exclude:
            self.report.notices.append("large objects are not synced by a run limited to some tables")
            ctx.emit(Notice(self.report.notices[-1], "warning"))
            return
        pin_output_settings(src_in_snapshot)
        self.report.large_objects = sync_large_objects(
            src_in_snapshot, tgt, ctx.source_url, ctx.target_url, snapshot_id, ctx.emit, ctx.cancel,
            ctx.options.job_id, ctx.options.source_rate)

    def _sequences(self, src: psycopg.Connection, tgt: psycopg.Connection) -> None:
        catalog = self.prepared.source_catalog
        chosen = selected_sequences(catalog, set(self.prepared.selected))
        positions = read_positions(src, chosen)
        self.report.sequences = advance_sequences(tgt, positions, catalog.sequences)


def sync(
    source_url: str | None,
    target_url: str | None,
    options: SyncOptions = SyncOptions(),  # frozen: sharing the default is safe
    listener: Listener = ignore,
    cancel: threading.Event | None = None,
    *,
    prepared: Prepared | None = None,
) -> SyncReport:
    """Bring ``target`` up to date with ``source``: rows, large objects and sequences, new tables and new
    nullable columns. Raises before writing anything when a change cannot be carried safely; a sync that stops
    part way leaves every range it committed consistent, and the next one converges.

    ``prepared``: the checks (``sync.preparation.prepare`` with the same options), made by a caller that writes
    between them and the sync — follow on a migrated target creates its slot first, after which the checks
    would find the target following."""
    check_sync_options(options)
    started = time.monotonic()
    emit = serialized(listener)
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        assert source_url is not None and target_url is not None
        report = SyncReport(describe_url(source_url), describe_url(target_url))
        emit(PhaseStarted(Phase.SYNC, f"{report.source} -> {report.target}"))
        if prepared is None:
            prepared = prepare(src, tgt, options)
    ctx = SyncContext(source_url, target_url, options, emit, cancel)
    # Columns first: the tables that gained one then match the source again when migrate plans the new tables.
    report.columns_added = _add_columns(ctx, prepared)
    if prepared.changes.new_tables:
        report.tables_created = _create_tables(ctx, prepared.changes.new_tables)
    SyncRun(ctx, prepared, report).run()
    report.seconds = time.monotonic() - started
    emit(SyncFinished(report.summary(), report.changes, round(report.seconds, 3)))
    emit(PhaseFinished(Phase.SYNC, report.seconds))
    return report
