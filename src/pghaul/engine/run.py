"""One migration run: preflight -> pre-data -> data -> post-data -> sequences -> verify.

With verification, each table is compared while the data phase still runs, as soon as it is copied; the final
verification reuses those comparisons. The rows' snapshot is held until verification ends, so what is compared
on the source is what was copied: an application writing meanwhile makes the run say so (and point to a sync),
not fail. A run whose rows were not all read in one snapshot this run holds compares the live source, as a
standalone verify does, and says why.

A ``MigrationRun`` holds what the stages share (the sessions, the plan, the job, the result), and has one
method per stage, read top to bottom in ``run``. Every stage writes only to the target, each step in a
transaction whose failure leaves the previous good state; the job and the per-range checkpoints are recorded
on the target (``pghaul`` schema) so a killed run is continued by the next one, and a status page can read
where it stands. Any failure fails the run: it is recorded as failed and raised, never reported as partial
success.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import psycopg

from pghaul import created_objects
from pghaul.connect import connect_source, connect_target
from pghaul.copy import state
from pghaul.copy.large_objects import LargeObjectStats, copy_large_objects
from pghaul.copy.parallel import DataPhase, DataPhaseOptions, TableJob
from pghaul.copy.sequences import apply_positions, read_positions, selected_sequences
from pghaul.copy.snapshot import SnapshotHolder, open_reader, snapshot_importable
from pghaul.copy.stop_in_flight import cancel_statement_on_stop
from pghaul.dump.pg_dump import dump_schema_of
from pghaul.engine import data, jobs
from pghaul.engine.apply import apply_steps
from pghaul.engine.options import MigrateOptions, MigrationResult, check_options
from pghaul.engine.preflight import Checked, check_before_writing, check_target_is_not_source
from pghaul.errors import PghaulError, check_cancelled
from pghaul.events import Event, Listener, Notice, PhaseFinished, PhaseStarted, ignore
from pghaul.inspect import inspect_catalog
from pghaul.inspect.model import Catalog, Table
from pghaul.kinds import Phase
from pghaul.plan import Step
from pghaul.urls import scrub

# pghaul.verify is imported where it is used: it imports pghaul.copy, whose package imports this engine.
if TYPE_CHECKING:
    from pghaul.follow.preflight import FollowReason
    from pghaul.follow.start import FollowStart
    from pghaul.verify import VerifyOptions, VerifyReport
    from pghaul.verify.options import CopiedSnapshot
    from pghaul.verify.report import SequencePosition
    from pghaul.verify.table_check import TableChecks


def serialized(listener: Listener) -> Listener:
    """Workers emit from their threads; listeners (rich, the HTTP live state) see one event at a time."""
    lock = threading.Lock()

    def emit(event: Event) -> None:
        with lock:
            listener(event)

    return emit


@contextmanager
def phase(listener: Listener, name: Phase, detail: str = "") -> Iterator[None]:
    started = time.monotonic()
    listener(PhaseStarted(name, detail))
    yield
    listener(PhaseFinished(name, time.monotonic() - started))


def error_parts(exc: BaseException, *urls: str) -> tuple[str, str | None]:
    """What to record of a failure: its message and, apart, the hint; never a password."""
    if isinstance(exc, PghaulError):
        return scrub(exc.message, *urls), scrub(exc.hint, *urls) or None
    return scrub(f"{type(exc).__name__}: {exc}", *urls), None


@dataclass(frozen=True)
class Sessions:
    """Both servers: their URLs (workers open their own sessions) and the run's control sessions."""

    source_url: str
    target_url: str
    src: psycopg.Connection
    tgt: psycopg.Connection


class MigrationRun:
    """One ``migrate``: its stages in order, sharing the run's state instead of passing it around."""

    def __init__(
        self, sessions: Sessions, options: MigrateOptions, emit: Listener, cancel: threading.Event | None
    ) -> None:
        self.db = sessions
        self.options = options
        self.emit = emit
        self.cancel = cancel
        self.started = time.monotonic()
        self.job_id = ""
        self.source_catalog: Catalog | None = None
        self.checked: Checked | None = None
        self.result: MigrationResult | None = None
        self.steps_run: list[Step] = []  # post-data steps the data phase already ran
        # The rows' snapshot, held from the data phase until verification ends (or the run does).
        self.snapshot_hold = ExitStack()
        # The snapshot every row was copied in, when this run holds it; else why verification compares live.
        self.as_copied: CopiedSnapshot | None = None
        self.compared_live_because = ""
        self.early_checks: TableChecks | None = None  # tables compared during the data phase
        self.sequences_set: dict[tuple[str, str], SequencePosition] = {}
        self.follow: FollowStart | None = None  # with options.follow: the slot, its snapshot, the subscription
        self.follow_caveats: tuple[FollowReason, ...] = ()  # what follow does not carry, said in the run's notices

    # --- the run as a whole --------------------------------------------------------------------------------------

    def run(self) -> MigrationResult:
        with phase(self.emit, Phase.PREFLIGHT):
            self.preflight()
        try:
            result = self.stages()
        except BaseException as exc:
            if self.follow is not None:
                self.follow.warn_slot_left(exc)
            self._record_failure(exc)
            raise
        result.seconds = time.monotonic() - self.started
        report = result.to_dict()
        if result.ok:
            jobs.finish_job(self.db.tgt, self.job_id, "done", None, report)
        else:
            jobs.finish_job(self.db.tgt, self.job_id, "failed", "verification found differences", report,
                            "see the verification report for each difference")
        return result

    def stages(self) -> MigrationResult:
        result = self.recheck()
        if not self.options.data_only:
            self.pre_data()
        with self.snapshot_hold:
            if not self.options.schema_only:
                self.data()
            check_cancelled(self.cancel, hint="run the same command again to continue where it stopped")
            self.post_data()
            if not self.options.schema_only:
                self.sequences()
            if not self.options.data_only:
                # How the target prints what pghaul created, so a later run and verify know it as pghaul's own work.
                created_objects.remember_definitions(self.db.tgt, dump_schema_of(self.db.tgt))
            if self.options.verify:
                self.verify()
        if self.follow is not None:
            # Last: the target starts applying changes only once nothing compares it with the copy's snapshot.
            self.follow.subscribe(self.db.tgt)
            result.follow = self.follow.report
        return result

    def _record_failure(self, exc: BaseException) -> None:
        try:
            error, hint = error_parts(exc, self.db.source_url, self.db.target_url)
            jobs.finish_job(self.db.tgt, self.job_id, "failed", error, None, hint)
        except psycopg.Error:
            pass  # the target itself went away: the job shows as interrupted (nobody holds its lock)

    def notice(self, message: str, level: str = "info", details: list[str] | None = None) -> None:
        assert self.result is not None
        self.result.notices.append(message)
        self.emit(Notice(message, level, details or []))

    def _stage(self, name: Phase) -> AbstractContextManager[None]:
        jobs.set_job_phase(self.db.tgt, self.job_id, name)
        return phase(self.emit, name)

    # --- the stages ----------------------------------------------------------------------------------------------

    def preflight(self) -> None:
        """Every refusal comes before the first write (pghaul's own state schema included)."""
        src, tgt = self.db.src, self.db.tgt
        check_target_is_not_source(src, tgt)
        self.source_catalog = inspect_catalog(src)
        checked = check_before_writing(src, tgt, self.source_catalog, self.options)
        if self.options.follow:
            self._check_follow(checked)
        else:
            from pghaul.follow.status import refuse_migration_without_follow

            refuse_migration_without_follow(src, tgt)
        # The lock first: a run refused because another holds the target writes nothing, not even its schema.
        jobs.lock_target(tgt)
        state.ensure_state(tgt)
        jobs.fail_stale_jobs(tgt)
        self.job_id = self.options.job_id or jobs.new_job_id()
        jobs.start_job(tgt, self.job_id)

    def _check_follow(self, checked: Checked) -> None:
        """Every reason follow is not possible, before anything is written (the probe's subscription included,
        rolled back); its caveats are said once the run's result exists."""
        from pghaul.follow.start import FollowStart

        self.follow = FollowStart(self.db.source_url, self.db.target_url, self.options, self.emit, self.notice)
        self.follow_caveats = self.follow.check(self.db.src, self.db.tgt,
                                                [t for t in checked.plan.tables if t.kind == "r"]).caveats

    def recheck(self) -> MigrationResult:
        """The checks again under the lock: another run may have changed the target since the first look (the
        rehearsal of the first look stands: what another run created since is now "exists" in this plan)."""
        assert self.source_catalog is not None
        self.checked = check_before_writing(self.db.src, self.db.tgt, self.source_catalog, self.options,
                                            rehearse=False)
        plan = self.checked.plan
        self.result = MigrationResult(self.job_id, plan)
        for note in plan.notes:
            self.notice(note)
        if self.follow is not None:
            self.follow.announce(self.follow_caveats)
        if self.options.data_only and plan.conflicts:
            # No DDL runs: rows go into the target's own definitions (in text format where a column type differs).
            self.notice("objects differ on the target; --data-only copies rows into them as they are", "warning",
                        [f"{s.kind} {s.name}" for s in plan.conflicts])
        return self.result

    @property
    def plan_post_steps(self) -> list[Step]:
        """The post-data DDL (none for data-only: the target keeps its own) and the ANALYZE steps."""
        assert self.checked is not None
        plan = self.checked.plan
        return ([] if self.options.data_only else plan.phase(Phase.POST_DATA)) + plan.analyze_steps

    def pre_data(self) -> None:
        """Extensions, schemas, types, functions, sequences, tables with their primary keys."""
        assert self.checked is not None
        with self._stage(Phase.PRE_DATA):
            apply_steps(self.db.tgt, self.checked.plan.phase(Phase.PRE_DATA), self.emit)

    def data(self) -> None:
        """Every selected table's rows, with each table's indexes and constraints built once its rows are in, and
        each table compared with the source after that when the run verifies."""
        assert self.result is not None
        workers = self.options.workers or data.default_workers(self.db.src, self.db.tgt)
        self.result.workers = workers
        with self._stage(Phase.DATA):
            snapshot_id = self.snapshot_hold.enter_context(self._snapshot())
            table_jobs = self._table_jobs(snapshot_id, workers)
            self._data_notices(table_jobs)
            assert self.source_catalog is not None and self.checked is not None
            early, owners = data.step_batches(self.source_catalog, self._copy_tables, self.plan_post_steps)
            self.early_checks = self._early_checks(len(table_jobs))
            copied = DataPhase(
                self.db.source_url, self.db.target_url, table_jobs, step_batches=early, owners=owners,
                apply=apply_steps, snapshot_id=snapshot_id,
                options=DataPhaseOptions(workers, self.options.batch_size, self.options.maintenance_work_mem_kb,
                                         replica_role=self.checked.replica.needed),
                job_id=self.job_id, listener=self.emit, cancel=self.cancel, checker=self.early_checks,
            ).run()
            self.result.tables = [copied.stats[j.table.key] for j in table_jobs]
            if self.follow is not None:
                self.follow.copied(self.db.tgt, in_snapshot=copied.snapshot_imported)
            self.result.large_objects = self._large_objects(snapshot_id)
            self.steps_run = list(copied.steps_run)
            if not copied.snapshot_imported:
                self._compare_live("a worker could not import the snapshot: some tables were read at another moment")
            elif self.result.large_objects is not None and self.result.large_objects.skipped:
                self._compare_live("large objects were copied by an earlier run, in another snapshot")
        if not self.options.verify:
            self.snapshot_hold.close()  # nothing compares against it: the source's vacuum need not wait

    def post_data(self) -> None:
        """What is left: foreign keys after all data, views, triggers, refreshes, policies, comments."""
        done = set(self.steps_run)
        left = [s for s in self.plan_post_steps if s not in done]
        if left or not self.options.data_only:
            stoppable = cancel_statement_on_stop(self.db.tgt, self.cancel, "the post-data phase")
            with self._stage(Phase.POST_DATA), stoppable:
                apply_steps(self.db.tgt, left, self.emit)

    def sequences(self) -> None:
        """Sequence positions, read after the data so they never stand behind a copied row."""
        assert self.result is not None and self.source_catalog is not None
        with self._stage(Phase.SEQUENCES):
            selected = selected_sequences(self.source_catalog, {t.key for t in self.result.plan.tables})
            positions = read_positions(self.db.src, selected)
            self.result.sequences_set = apply_positions(self.db.tgt, positions)
        from pghaul.verify.report import SequencePosition

        self.sequences_set = {(p.schema, p.name): SequencePosition(p.last_value, p.is_called) for p in positions}

    @property
    def verify_options(self) -> VerifyOptions:
        from pghaul.verify import VerifyOptions

        # A schema-only run copies no rows and sets no sequences: verify the schema alone then.
        options = self.options
        return VerifyOptions(include=options.include, exclude=options.exclude, data=not options.schema_only)

    def verify(self) -> None:
        """The tables the data phase compared are reported as they were; everything else is compared now, as of
        the rows' snapshot when the run holds it."""
        from pghaul.verify import verify
        from pghaul.verify.options import Copied

        assert self.result is not None
        jobs.set_job_phase(self.db.tgt, self.job_id, Phase.VERIFY)
        options = self._verify_now_options
        if self.compared_live_because and options.data:
            self.notice(
                f"verified against the live source, as a standalone verify would: {self.compared_live_because}",
                "warning", ["rows written on the source since they were copied show as differences"],
            )
        snapshot = replace(self.as_copied, sequences=self.sequences_set) if self.as_copied is not None else None
        tables = self.early_checks.results if self.early_checks is not None else {}
        report = verify(self.db.source_url, self.db.target_url, options, self.emit, copied=Copied(tables, snapshot))
        self.result.verify_report = report
        self.result.ok = bool(report.ok)
        changed = report.as_of.change_notice() if report.as_of is not None else None
        if report.as_of is not None and changed is not None:
            if self.follow is not None:
                changed = "the source changed since the copy's snapshot: replication applies it once subscribed"
            self.notice(changed, "warning", data.listed(report.as_of.changed))
        self._remember_baselines(report)

    @property
    def _verify_now_options(self) -> VerifyOptions:
        """With follow and no snapshot of the copy to compare with, rows are compared at the cutover, once the lag
        is zero with writes paused: the live source is ahead of the target by the replication lag meanwhile."""
        if self.follow is None or not self.compared_live_because:
            return self.verify_options
        self.notice("rows are verified at the cutover, with writes paused and the replication lag at zero: this run "
                    "compares the schema only", "info", [self.compared_live_because])
        return replace(self.verify_options, data=False)

    def _remember_baselines(self, report: VerifyReport) -> None:
        """Tables verified equal to the source as of the copy's snapshot: a later sync starts from there, reading
        the source's row versions instead of hashing every row (``sync/row_versions.py``)."""
        from pghaul.sync.row_versions import record_baselines

        if self.as_copied is None or self.compared_live_because:
            return
        xmin = min(self.as_copied.in_progress, default=self.as_copied.next_xid)
        verified = {c.table for c in report.tables if c.ok}
        try:
            record_baselines(self.db.tgt, [t for t in self._copy_tables if t.display_name in verified], xmin)
        except psycopg.Error as exc:
            # Only a later sync's speed depends on it (it compares checksums without): say so, do not fail the run.
            self.notice(f"could not record where a later sync may start from ({type(exc).__name__}): the first sync "
                        "will compare checksums", "warning")

    # --- the data stage's parts ----------------------------------------------------------------------------------

    @property
    def _copy_tables(self) -> list[Table]:
        assert self.checked is not None
        return [t for t in self.checked.plan.tables if t.kind == "r"]

    @contextmanager
    def _snapshot(self) -> Iterator[str | None]:
        """The snapshot the rows are read in. Work from an earlier run that is not complete is continued in its
        snapshot while that can still be imported (only while the process that exported it is alive); else
        the rest is read at a later moment, which the run says."""
        from pghaul.verify.run import copied_snapshot, write_marks

        assert self.result is not None
        if self.follow is not None:
            with self._follow_snapshot() as snapshot_id:
                yield snapshot_id
            return
        tgt = self.db.tgt
        earlier = {t.key: state.load_ranges(tgt, t) for t in self._copy_tables}
        started_before = any(r.done or r.rows_copied or r.rows_skipped for rs in earlier.values() for r in rs)
        unfinished = any(not rs or not all(r.done for r in rs) for rs in earlier.values())
        self.result.resumed = started_before
        old_snapshot = jobs.last_snapshot(tgt) if started_before and unfinished else None
        if old_snapshot and snapshot_importable(self.db.source_url, old_snapshot):
            self._compare_live("the rows were read in the snapshot of an earlier run, which this run cannot hold")
            yield old_snapshot
            return
        # Marked before the snapshot is taken: a write in between then reads as a change since, never goes unseen.
        marks = write_marks(self.db.src, self._marked_relations) if self.options.verify else {}
        holder = SnapshotHolder(self.db.source_url)
        try:
            jobs.set_job_snapshot(tgt, self.job_id, holder.snapshot_id)
            self._snapshot_notices(holder.snapshot_id, started_before, unfinished)
            if holder.snapshot_id is not None and not started_before:
                self.as_copied = copied_snapshot(holder.conn, holder.snapshot_id, marks)
            yield holder.snapshot_id
        finally:
            holder.close()

    @contextmanager
    def _follow_snapshot(self) -> Iterator[str | None]:
        """The snapshot of follow's replication slot: every row is read in it, or was, in full, by an earlier run
        with the same slot (then nothing is copied and rows are verified at the cutover)."""
        from pghaul.follow.events import StartKind
        from pghaul.verify.run import copied_snapshot, write_marks

        assert self.follow is not None and self.result is not None
        marks = write_marks(self.db.src, self._marked_relations) if self.options.verify else {}
        with self.follow.snapshot(self.db.src, self.db.tgt) as holder:
            assert self.follow.report is not None
            self.result.resumed = self.follow.report.start is not StartKind.FRESH
            if holder is None:
                self._compare_live("the rows were copied by an earlier run, in the snapshot of the replication "
                                   "slot that the subscription applies changes from")
                yield None
                return
            jobs.set_job_snapshot(self.db.tgt, self.job_id, holder.snapshot_id)
            assert holder.snapshot_id is not None  # an imported snapshot is exported again, or the holder raised
            self.as_copied = copied_snapshot(holder.conn, holder.snapshot_id, marks)
            yield holder.snapshot_id

    @property
    def _marked_relations(self) -> list[tuple[str, str]]:
        """What a change since the copy is looked for in: the copied tables, and the large objects when copied."""
        from pghaul.verify.run import LARGE_OBJECT_RELATIONS

        whole = not (self.options.include or self.options.exclude)
        return [t.key for t in self._copy_tables] + (list(LARGE_OBJECT_RELATIONS) if whole else [])

    def _snapshot_notices(self, snapshot_id: str | None, started_before: bool, unfinished: bool) -> None:
        assert self.result is not None
        if started_before and unfinished:
            self.result.snapshot_reused = False
            self.notice(
                "resumed from the checkpoints of an earlier run, whose snapshot of the source is gone: the rest "
                "of the rows are read as of now",
                "warning",
                [
                    "rows changed on the source between the two runs, in the parts already copied, are not "
                    "copied again; verify shows them, and a later sync can bring them over",
                ],
            )
        if started_before:
            self._compare_live("rows copied by an earlier run were read at another moment than this run's")
        if snapshot_id is None:
            self.notice("the source did not export a snapshot: each worker reads its tables at its own moment",
                        "warning")
            self._compare_live("the source did not export a snapshot")

    def _compare_live(self, reason: str) -> None:
        """The rows were not all read in one snapshot this run holds: verification compares the live source, as
        a standalone verify does (tables checked in the snapshot meanwhile are checked again, live)."""
        self.as_copied = None
        self.early_checks = None
        self.compared_live_because = self.compared_live_because or reason

    def _early_checks(self, tables: int) -> TableChecks | None:
        """Each table compared as soon as it is in, the source read in the rows' snapshot (live when the run does
        not hold one)."""
        from pghaul.verify.table_check import TableChecks

        if not self.options.verify:
            return None
        snapshot_id = self.as_copied.snapshot_id if self.as_copied is not None else None
        checks = TableChecks(self.db.source_url, snapshot_id, self.verify_options, self.emit)
        checks.announce(tables)
        return checks

    def _table_jobs(self, snapshot_id: str | None, workers: int) -> list[TableJob]:
        assert self.checked is not None
        target_catalog = self.checked.target_catalog
        if not self.options.data_only:
            target_catalog = inspect_catalog(self.db.tgt, with_dump=False)  # now with the tables pre-data made
        reader, _ = open_reader(self.db.source_url, snapshot_id)
        try:
            return data.table_jobs(reader, self.db.tgt, self._copy_tables, target_catalog, self.options, workers,
                                   self.job_id)
        finally:
            reader.rollback()
            reader.close()

    def _data_notices(self, table_jobs: list[TableJob]) -> None:
        assert self.checked is not None
        already = [j.table.display_name for j in table_jobs if j.done]
        if already:
            self.notice(
                f"{len(already)} table(s) were already copied by an earlier run and are left as they are",
                details=already[:50] + (["…"] if len(already) > 50 else []) + [
                    "run `pghaul cleanup` on the target to copy them again from scratch"
                ],
            )
        if self.checked.replica.needed:
            data.replica_notices(self.checked.replica, self.notice)

    def _large_objects(self, snapshot_id: str | None) -> LargeObjectStats | None:
        """Large objects belong to no table: copied by a whole-database run, in the rows' snapshot."""
        if self.options.include or self.options.exclude:
            self.emit(Notice("large objects are not copied by a run limited to some tables", "warning"))
            return None
        return copy_large_objects(self.db.source_url, self.db.target_url, snapshot_id=snapshot_id,
                                  listener=self.emit, cancel=self.cancel, job_id=self.job_id,
                                  rate=self.options.source_rate)


def migrate(
    source_url: str | None,
    target_url: str | None,
    options: MigrateOptions = MigrateOptions(),
    listener: Listener = ignore,
    cancel: threading.Event | None = None,
) -> MigrationResult:
    """Copy schema and rows from source to target, set sequences and verify; resumes an interrupted run."""
    check_options(options)
    emit = serialized(listener)
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        assert source_url is not None and target_url is not None
        return MigrationRun(Sessions(source_url, target_url, src, tgt), options, emit, cancel).run()
