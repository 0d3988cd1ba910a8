"""The one orchestrator: preflight -> pre-data -> data -> post-data -> sequences -> verify.

Read it as numbered stages. Every stage writes only to the target, each step in a transaction whose failure
leaves the previous good state; the job and the per-range checkpoints are recorded on the target (``pghaul``
schema) so a killed run is continued by the next one, and a status page can read where it stands.
Any failure fails the run: it is recorded as failed and raised, never reported as partial success.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from pghaul import created_objects, preflight
from pghaul.apply import apply_steps
from pghaul.connect import connect_source, connect_target
from pghaul.copy import state
from pghaul.copy.binary_io import binary_copy
from pghaul.copy.large_objects import LargeObjectStats, copy_large_objects, refuse_foreign_objects
from pghaul.copy.parallel import (
    DataPhaseOptions,
    TableJob,
    TableStats,
    batches_for,
    build_vector_index,
    run_data_phase,
)
from pghaul.copy.ranges import estimate_rows, split_points
from pghaul.copy.replica_role import ReplicaRoleNeed, check_replica_role_allowed, replica_role_need
from pghaul.copy.row_security import check_rls_readable
from pghaul.copy.sequences import apply_positions, read_positions, selected_sequences, setval_statements
from pghaul.copy.snapshot import SnapshotHolder, open_reader, snapshot_importable
from pghaul.copy.table_data import (
    check_key_on_target,
    filled_by_pghaul,
    refuse_rows_not_from_pghaul,
    target_has_rows,
)
from pghaul.dump.pg_dump import dump_schema_of
from pghaul.errors import PghaulError, SafetyError, SchemaConflict, UsageError
from pghaul.events import Event, Listener, Notice, PhaseFinished, PhaseStarted, ignore
from pghaul.inspect import inspect_catalog
from pghaul.inspect.model import Catalog, QualifiedName, Table
from pghaul.kinds import Phase, StepKind, StepStatus
from pghaul.plan import Plan, PlanOptions, Step, build_plan
from pghaul.rehearsal import rehearse_plan
from pghaul.roles import check_roles_exist, roles_needed
from pghaul.urls import scrub

DEFAULT_CHUNK_ROWS = 50_000
MAX_CHUNK_ROWS = 1_000_000
# Tables estimated above this many rows, or this many bytes, are split into key ranges that workers copy in
# parallel: by bytes too, so that a table of few wide rows (embeddings) does not become one long tail.
DEFAULT_SPLIT_ROWS = 200_000
SPLIT_BYTES = 64 * 1024 * 1024
MAX_DEFAULT_WORKERS = 8
# Index builds on tables this big take long enough to report their progress (a poll costs a connection).
WATCH_INDEX_BUILDS_FROM_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class MigrateOptions:
    batch_size: int = DEFAULT_CHUNK_ROWS  # rows per committed chunk (and checkpoint)
    include: tuple[str, ...] = ()  # fnmatch patterns on "schema.table"
    exclude: tuple[str, ...] = ()
    schema_only: bool = False
    data_only: bool = False
    workers: int | None = None  # None: from the machine's cores and the servers' free connections
    verify: bool = True
    job_id: str | None = None
    split_rows: int = DEFAULT_SPLIT_ROWS
    maintenance_work_mem_kb: int | None = None  # for vector index builds; None: chosen from the target
    analyze: bool = True
    owners: bool = False  # ALTER … OWNER TO as on the source (the roles must exist on the target)
    privileges: bool = False  # grants and default privileges as on the source

    @property
    def plan_options(self) -> PlanOptions:
        """What the dry run shows: the DDL (it says in a line that ANALYZE follows each copied table)."""
        return PlanOptions(self.include, self.exclude, owners=self.owners, privileges=self.privileges)

    @property
    def run_plan_options(self) -> PlanOptions:
        """What a run follows: the DDL and, unless turned off or there are no rows to copy, the ANALYZE steps."""
        return replace(self.plan_options, analyze=self.analyze and not self.schema_only)


@dataclass
class MigrationResult:
    job_id: str
    plan: Plan
    tables: list[TableStats] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    # False when a resumed run read the rest of the data at a later moment than the rows copied before.
    snapshot_reused: bool = True
    resumed: bool = False
    sequences_set: int = 0
    workers: int = 0
    large_objects: LargeObjectStats | None = None
    verify_report: Any | None = None  # pghaul.verify.VerifyReport
    seconds: float = 0.0
    ok: bool = True

    @property
    def rows_copied(self) -> int:
        return sum(t.rows_copied for t in self.tables)

    @property
    def rows_skipped(self) -> int:
        return sum(t.rows_skipped for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id, "ok": self.ok, "seconds": round(self.seconds, 3), "resumed": self.resumed,
            "snapshotReused": self.snapshot_reused, "workers": self.workers, "rowsCopied": self.rows_copied,
            "rowsSkipped": self.rows_skipped, "sequencesSet": self.sequences_set,
            "tables": [t.to_dict() for t in self.tables], "notices": list(self.notices),
            "largeObjects": _large_object_dict(self.large_objects),
            "plan": {"notes": list(self.plan.notes), "steps": len(self.plan.steps)},
            "verify": self.verify_report.to_dict() if self.verify_report is not None else None,
        }


def _large_object_dict(stats: LargeObjectStats | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {"objects": stats.objects, "copied": stats.copied, "skipped": stats.skipped,
            "bytesCopied": stats.bytes_copied, "seconds": round(stats.seconds, 3)}


@dataclass
class PostDataResult:
    applied: list[str] = field(default_factory=list)
    sequences_set: int = 0
    large_objects: LargeObjectStats | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"applied": list(self.applied), "sequencesSet": self.sequences_set,
                "largeObjects": _large_object_dict(self.large_objects)}


# --- helpers ---------------------------------------------------------------------------------------------------


def _serialized(listener: Listener) -> Listener:
    """Workers emit from their threads; listeners (rich, the HTTP live state) see one event at a time."""
    lock = threading.Lock()

    def emit(event: Event) -> None:
        with lock:
            listener(event)

    return emit


@contextmanager
def _phase(listener: Listener, phase: Phase, detail: str = "") -> Iterator[None]:
    started = time.monotonic()
    listener(PhaseStarted(phase, detail))
    yield
    listener(PhaseFinished(phase, time.monotonic() - started))


def _check_options(options: MigrateOptions) -> None:
    if options.schema_only and options.data_only:
        raise UsageError("schema-only and data-only exclude each other", "pick one, or neither for a full migration")
    if not 1 <= options.batch_size <= MAX_CHUNK_ROWS:
        raise UsageError(
            f"batch size {options.batch_size} is out of range", f"use 1 to {MAX_CHUNK_ROWS:,} rows per chunk"
        )
    if options.workers is not None and options.workers < 1:
        raise UsageError("workers must be at least 1", "pass --workers 1 or more, or leave it out")


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


def _lock_target(tgt: psycopg.Connection) -> None:
    """Take the target's migration lock for this session (a migration, or a post-data phase), or refuse: two of
    them at once would build the same indexes, or copy rows under constraints being created."""
    if not state.try_lock_migration(tgt):
        raise SafetyError(
            "another pghaul migration into this target is running",
            "wait for it to finish (see `db-status`), or stop it before starting again",
        )


def _error_parts(exc: BaseException, *urls: str) -> tuple[str, str | None]:
    """What to record of a failure: its message and, apart, the hint; never a password."""
    if isinstance(exc, PghaulError):
        return scrub(exc.message, *urls), scrub(exc.hint, *urls) or None
    return scrub(f"{type(exc).__name__}: {exc}", *urls), None


def _plan(src: psycopg.Connection, tgt: psycopg.Connection, options: PlanOptions) -> tuple[Catalog, Plan]:
    source_catalog = inspect_catalog(src)
    plan = build_plan(source_catalog, inspect_catalog(tgt), options)
    return source_catalog, plan


def _raise_conflicts(plan: Plan) -> None:
    if plan.conflicts:
        names = [f"{s.kind} {s.name}" for s in plan.conflicts]
        raise SchemaConflict(
            f"{len(names)} object(s) exist on the target with another definition: " + ", ".join(names[:10])
            + (" …" if len(names) > 10 else ""),
            "drop or rename them on the target (or leave their tables out with --exclude); pghaul never overwrites",
            names,
        )


def _require_target_tables(tables: list[Table], target_catalog: Catalog) -> None:
    missing = [t.display_name for t in tables if t.key not in target_catalog.tables]
    if missing:
        raise UsageError(
            f"{len(missing)} table(s) do not exist on the target: " + ", ".join(missing[:10])
            + (" …" if len(missing) > 10 else ""),
            "run without --data-only so pghaul creates the schema first",
        )


def _require_keys_where_rows_are(tgt: psycopg.Connection, tables: list[Table], target_catalog: Catalog) -> None:
    """Rows already in a target table that lacks the source's key could not be told from the copied ones; an
    empty one is safe (each chunk commits with its checkpoint), and so is one pghaul has begun filling."""
    with_state = state.state_exists(tgt)
    for table in tables:
        target_table = target_catalog.tables[table.key]
        if not table.primary_key or target_table.primary_key == table.primary_key:
            continue
        if target_has_rows(tgt, target_table) and not (with_state and state.load_ranges(tgt, table)):
            check_key_on_target(table, target_table)


def _refuse_keyless_rows_not_from_pghaul(
    tgt: psycopg.Connection, tables: list[Table], target_catalog: Catalog
) -> None:
    """A keyless table is copied whole: rows already on the target that pghaul's checkpoints do not account for
    would have to be deleted (or doubled). Refused before anything is written; pghaul's own finished copy is
    simply skipped."""
    for table in tables:
        target_table = target_catalog.tables.get(table.key)
        if table.primary_key or target_table is None:
            continue
        if target_has_rows(tgt, target_table) and not filled_by_pghaul(tgt, table):
            refuse_rows_not_from_pghaul(table)


@dataclass(frozen=True)
class _Checked:
    """What the safety checks looked at, all of them passed."""

    target_catalog: Catalog
    plan: Plan
    replica: ReplicaRoleNeed


def _check_before_writing(
    src: psycopg.Connection,
    tgt: psycopg.Connection,
    source_catalog: Catalog,
    options: MigrateOptions,
    rehearse: bool = True,
) -> _Checked:
    """Every check that can refuse the run, none of which writes: extensions fit, no conflicting objects (data-only
    copies into them as they are), roles, row-level security, large objects, the rehearsal of every step, and for
    data-only the tables exist and their foreign keys and triggers can be held off. Run before pghaul writes its
    state, and again (without a second rehearsal) once it holds the migration lock."""
    target_catalog = inspect_catalog(tgt)
    plan = build_plan(source_catalog, target_catalog, options.run_plan_options)
    preflight.check_extensions(source_catalog, tgt)
    if not options.schema_only:
        refuse_foreign_objects(src, tgt)
        check_rls_readable(src, [t for t in plan.tables if t.kind == "r"])
        _refuse_keyless_rows_not_from_pghaul(tgt, [t for t in plan.tables if t.kind == "r"], target_catalog)
    if not options.data_only:
        _raise_conflicts(plan)
        check_roles_exist(tgt, roles_needed(src, source_catalog, plan, options.plan_options))
        if rehearse:
            rehearse_plan(tgt, plan, target_catalog)
        return _Checked(target_catalog, plan, ReplicaRoleNeed())
    copy_tables = [t for t in plan.tables if t.kind == "r"]
    _require_target_tables(copy_tables, target_catalog)
    _require_keys_where_rows_are(tgt, copy_tables, target_catalog)
    replica = replica_role_need(target_catalog, copy_tables)
    if replica.needed:
        check_replica_role_allowed(tgt)
    return _Checked(target_catalog, plan, replica)


def refusal_before_writing(
    src: psycopg.Connection, tgt: psycopg.Connection, source_catalog: Catalog, options: MigrateOptions
) -> PghaulError | None:
    """What would stop ``migrate`` before its first write (the same checks, the rehearsal included), or None.
    Writes nothing: for a preflight page that lists problems before anyone presses start."""
    try:
        preflight.check_target_is_not_source(src, tgt)
        _check_before_writing(src, tgt, source_catalog, options)
    except PghaulError as exc:
        return exc
    return None


def create_pre_data(
    src: psycopg.Connection, tgt: psycopg.Connection, plan: Plan, target_catalog: Catalog
) -> list[Step]:
    """The walk-through's schema step: the pre-data steps of ``plan`` that create something, after refusing a
    target that is the source and rehearsing the whole plan (post-data included) before the first write.
    Returns the steps applied."""
    preflight.check_target_is_not_source(src, tgt)
    rehearse_plan(tgt, plan, target_catalog)
    steps = [s for s in plan.phase(Phase.PRE_DATA) if s.status == StepStatus.CREATE]
    return list(apply_steps(tgt, steps).applied)


def cleanup(target_url: str | None, source_url: str | None = None) -> bool:
    """Drop pghaul's own schema from the target (``pghaul cleanup``); True if there was one.

    With ``source_url`` (the CLI passes DATABASE_URL when set), a target that is that source is refused before
    anything is dropped: the source may hold a ``pghaul`` schema of its own (it was once a migration's target),
    and pghaul never writes to a source.
    """
    if source_url:
        with connect_source(source_url) as src, connect_target(target_url) as tgt:
            try:
                preflight.check_target_is_not_source(src, tgt)
            except SafetyError as exc:
                raise SafetyError(
                    exc.message,
                    "pghaul never writes to the database it copies from. If your app has switched to this database "
                    "and you mean to drop pghaul's schema there, say there is no source: pghaul cleanup --target "
                    "URL --source '' (or run DROP SCHEMA pghaul CASCADE in its SQL console)",
                ) from None
            return state.drop_state(tgt)
    with connect_target(target_url) as tgt:
        return state.drop_state(tgt)


def make_plan(source_url: str | None, target_url: str | None, options: MigrateOptions = MigrateOptions()) -> Plan:
    """The dry run: the plan ``migrate`` would follow, with the sequence positions it would set. Writes nothing."""
    _check_options(options)
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        return plan_with(src, tgt, options)


def plan_with(src: psycopg.Connection, tgt: psycopg.Connection, options: MigrateOptions = MigrateOptions()) -> Plan:
    """``make_plan`` on sessions the caller holds (the admin API's pools). Writes nothing."""
    _check_options(options)
    source_catalog, plan = _plan(src, tgt, options.plan_options)
    if not options.schema_only:
        tables = {t.key for t in plan.tables}
        positions = read_positions(src, selected_sequences(source_catalog, tables))
        for position, statement in zip(positions, setval_statements(positions), strict=True):
            plan.steps.append(Step(Phase.POST_DATA, StepKind.SEQUENCE_POSITION, position.display_name, statement))
    return plan


# --- the data phase ----------------------------------------------------------------------------------------------


def _partition_root(catalog: Catalog, key: QualifiedName) -> QualifiedName:
    table = catalog.tables.get(key)
    while table is not None and table.partition_of is not None and table.partition_of in catalog.tables:
        table = catalog.tables[table.partition_of]
    return table.key if table is not None else key


def _copy_tree(catalog: Catalog) -> dict[QualifiedName, set[QualifiedName]]:
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


def _table_jobs(
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
        jobs.append(TableJob(table, tuple(ranges), binary, estimate))
    return jobs


# --- migrate ------------------------------------------------------------------------------------------------------


def migrate(
    source_url: str | None,
    target_url: str | None,
    options: MigrateOptions = MigrateOptions(),
    listener: Listener = ignore,
    cancel: threading.Event | None = None,
) -> MigrationResult:
    """Copy schema and rows from source to target, set sequences and verify; resumes an interrupted run."""
    _check_options(options)
    emit = _serialized(listener)
    started = time.monotonic()
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        assert source_url is not None and target_url is not None
        with _phase(emit, Phase.PREFLIGHT):
            # Every refusal comes before the first write (pghaul's own state schema included).
            preflight.check_target_is_not_source(src, tgt)
            source_catalog = inspect_catalog(src)
            _check_before_writing(src, tgt, source_catalog, options)
            # The lock first: a run refused because another holds the target writes nothing, not even its schema.
            _lock_target(tgt)
            state.ensure_state(tgt)
            state.fail_stale_jobs(tgt)
            job_id = options.job_id or state.new_job_id()
            state.start_job(tgt, job_id)
        try:
            result = _migrate(src, tgt, source_url, target_url, source_catalog, options, emit, cancel, job_id)
        except BaseException as exc:
            try:
                error, hint = _error_parts(exc, source_url, target_url)
                state.finish_job(tgt, job_id, "failed", error, None, hint)
            except psycopg.Error:
                pass  # the target itself went away: the job shows as interrupted (nobody holds its lock)
            raise
        result.seconds = time.monotonic() - started
        report = result.to_dict()
        if result.ok:
            state.finish_job(tgt, job_id, "done", None, report)
        else:
            state.finish_job(tgt, job_id, "failed", "verification found differences", report,
                             "see the verification report for each difference")
        return result


def _migrate(
    src: psycopg.Connection,
    tgt: psycopg.Connection,
    source_url: str,
    target_url: str,
    source_catalog: Catalog,
    options: MigrateOptions,
    emit: Listener,
    cancel: threading.Event | None,
    job_id: str,
) -> MigrationResult:
    def notice(message: str, level: str = "info", details: list[str] | None = None) -> None:
        result.notices.append(message)
        emit(Notice(message, level, details or []))

    def stage(name: Phase) -> Any:
        state.set_job_phase(tgt, job_id, name)
        return _phase(emit, name)

    # Again under the lock: another run may have changed the target since the first look (the rehearsal of the
    # first look stands: what another run created since is now "exists" in this plan).
    checked = _check_before_writing(src, tgt, source_catalog, options, rehearse=False)
    plan = checked.plan
    result = MigrationResult(job_id, plan)
    for note in plan.notes:
        notice(note)
    if options.data_only and plan.conflicts:
        # No DDL runs: rows go into the target's own definitions (in text format where a column type differs).
        notice("objects differ on the target; --data-only copies rows into them as they are", "warning",
               [f"{s.kind} {s.name}" for s in plan.conflicts])

    # 1. pre-data: extensions, schemas, types, functions, sequences, tables with their primary keys
    if not options.data_only:
        with stage(Phase.PRE_DATA):
            apply_steps(tgt, plan.phase(Phase.PRE_DATA), emit)
    target_catalog = checked.target_catalog if options.data_only else inspect_catalog(tgt, with_dump=False)
    post_steps = [] if options.data_only else plan.phase(Phase.POST_DATA)
    copy_tables = [t for t in plan.tables if t.kind == "r"]
    analyze_steps = plan.analyze_steps

    # 2. data, with each table's indexes and constraints built as soon as its rows are in
    steps_run: list[Step] = []
    if not options.schema_only:
        workers = options.workers or default_workers(src, tgt)
        result.workers = workers
        with stage(Phase.DATA):
            data = _data_phase(
                source_url, target_url, src, tgt, source_catalog, target_catalog, copy_tables,
                post_steps + analyze_steps, options, workers, job_id, emit, cancel, notice, result, checked.replica,
            )
        steps_run = data
    if cancel is not None and cancel.is_set():
        from pghaul.copy.table_data import CopyCancelled

        raise CopyCancelled("stopped on request", "run the same command again to continue where it stopped")

    # 3. post-data: what is left (foreign keys after all data, views, triggers, refreshes, policies, comments)
    done = set(steps_run)
    left = [s for s in post_steps + analyze_steps if s not in done]
    if left or not options.data_only:
        with stage(Phase.POST_DATA):
            apply_steps(tgt, left, emit)

    # 4. sequence positions, read after the data so they never stand behind a copied row
    if not options.schema_only:
        with stage(Phase.SEQUENCES):
            positions = read_positions(src, selected_sequences(source_catalog, {t.key for t in plan.tables}))
            result.sequences_set = apply_positions(tgt, positions)

    # How the target prints what pghaul created, so a later run and verify know it as pghaul's own work.
    if not options.data_only:
        created_objects.remember_definitions(tgt, dump_schema_of(tgt))

    # 5. verify
    if options.verify:
        from pghaul.verify import VerifyOptions, verify

        state.set_job_phase(tgt, job_id, Phase.VERIFY)
        # A schema-only run copies no rows and sets no sequences: verify the schema alone then.
        wanted = VerifyOptions(include=options.include, exclude=options.exclude, data=not options.schema_only)
        report = verify(source_url, target_url, wanted, emit)
        result.verify_report = report
        result.ok = bool(report.ok)
    return result


def _data_phase(
    source_url: str,
    target_url: str,
    src: psycopg.Connection,
    tgt: psycopg.Connection,
    source_catalog: Catalog,
    target_catalog: Catalog,
    copy_tables: list[Table],
    post_steps: list[Step],
    options: MigrateOptions,
    workers: int,
    job_id: str,
    emit: Listener,
    cancel: threading.Event | None,
    notice: Any,
    result: MigrationResult,
    replica: ReplicaRoleNeed,
) -> list[Step]:
    """Copy every selected table; returns the post-data steps already run (per-table indexes and constraints)."""
    # Work from an earlier run that is not complete: the rest is read at a later moment unless the original
    # snapshot can still be imported (only while the process that exported it is alive).
    earlier = {t.key: state.load_ranges(tgt, t) for t in copy_tables}
    started_before = any(r.done or r.rows_copied or r.rows_skipped for rs in earlier.values() for r in rs)
    unfinished = any(not rs or not all(r.done for r in rs) for rs in earlier.values())
    result.resumed = started_before
    old_snapshot = state.last_snapshot(tgt) if started_before and unfinished else None
    holder: SnapshotHolder | None = None
    try:
        if old_snapshot and snapshot_importable(source_url, old_snapshot):
            snapshot_id: str | None = old_snapshot
        else:
            holder = SnapshotHolder(source_url)
            snapshot_id = holder.snapshot_id
            state.set_job_snapshot(tgt, job_id, snapshot_id)
            if started_before and unfinished:
                result.snapshot_reused = False
                notice(
                    "resumed from the checkpoints of an earlier run, whose snapshot of the source is gone: the rest "
                    "of the rows are read as of now",
                    "warning",
                    [
                        "rows changed on the source between the two runs, in the parts already copied, are not "
                        "copied again; verify shows them, and a later sync can bring them over",
                    ],
                )
            if snapshot_id is None:
                notice("the source did not export a snapshot: each worker reads its tables at its own moment",
                       "warning")
        reader, _ = open_reader(source_url, snapshot_id)
        try:
            jobs = _table_jobs(reader, tgt, copy_tables, target_catalog, options, workers, job_id)
        finally:
            reader.rollback()
            reader.close()
        already = [j.table.display_name for j in jobs if j.done]
        if already:
            notice(
                f"{len(already)} table(s) were already copied by an earlier run and are left as they are",
                details=already[:50] + (["…"] if len(already) > 50 else []) + [
                    "run `pghaul cleanup` on the target to copy them again from scratch"
                ],
            )
        if replica.needed:
            _replica_notices(replica, notice)
        tree = _copy_tree(source_catalog)
        copied = {t.key for t in copy_tables}
        def large(owner: QualifiedName) -> bool:
            size = sum(source_catalog.tables[k].size_bytes for k in tree.get(owner, set()))
            return size >= WATCH_INDEX_BUILDS_FROM_BYTES

        # A partition's indexes attach to its parent's, so they are built with the partition tree's root.
        batches = batches_for(post_steps, lambda key: _partition_root(source_catalog, key), large)
        owners = {owner: tree.get(owner, set()) & copied for owner in batches}
        early = {o: b for o, b in batches.items() if owners[o]}
        owners = {o: ts for o, ts in owners.items() if ts}
        data = run_data_phase(
            source_url, target_url, jobs, step_batches=early, owners=owners, apply=apply_steps,
            snapshot_id=snapshot_id,
            options=DataPhaseOptions(
                workers, options.batch_size, options.maintenance_work_mem_kb, replica_role=replica.needed
            ),
            job_id=job_id, listener=emit, cancel=cancel,
        )
        result.tables = [data.stats[j.table.key] for j in jobs]
        result.large_objects = _large_objects(source_url, target_url, snapshot_id, options, job_id, emit, cancel)
        return list(data.steps_run)
    finally:
        if holder is not None:
            holder.close()


def _large_objects(
    source_url: str,
    target_url: str,
    snapshot_id: str | None,
    options: MigrateOptions,
    job_id: str,
    emit: Listener,
    cancel: threading.Event | None,
) -> LargeObjectStats | None:
    """Large objects belong to no table: copied by a whole-database run, in the rows' snapshot."""
    if options.include or options.exclude:
        emit(Notice("large objects are not copied by a run limited to some tables", "warning"))
        return None
    return copy_large_objects(source_url, target_url, snapshot_id=snapshot_id, listener=emit, cancel=cancel,
                              job_id=job_id)


def _replica_notices(replica: ReplicaRoleNeed, notice: Any) -> None:
    if replica.foreign_keys:
        notice(
            "foreign keys on the target were not re-checked for the copied rows: they come from a source that "
            "enforced them",
            details=list(replica.foreign_keys[:50]) + (["…"] if len(replica.foreign_keys) > 50 else []),
        )
    if replica.triggers:
        notice("triggers on the target did not fire for the copied rows (the copy runs as a replica would)",
               details=list(replica.triggers[:50]) + (["…"] if len(replica.triggers) > 50 else []))
    if replica.still_firing:
        notice("these triggers are enabled ALWAYS or REPLICA, so they fired for every copied row", "warning",
               list(replica.still_firing))


def finish_post_data(
    source_url: str | None,
    target_url: str | None,
    listener: Listener = ignore,
    cancel: threading.Event | None = None,
    options: MigrateOptions = MigrateOptions(),
) -> PostDataResult:
    """The post-data phase on its own, for the batch walk-through: indexes, constraints, foreign keys, views,
    triggers, refreshes, then sequence positions and ANALYZE. Steps already on the target are skipped."""
    emit = _serialized(listener)
    out = PostDataResult()
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        # Before the first write (a large object, an index, a setval): the target must not be the source.
        preflight.check_target_is_not_source(src, tgt)
        # Held by this session until it closes: no second post-data phase or migration meanwhile.
        _lock_target(tgt)
        # ANALYZE always follows the walk-through's post-data steps: its rows came in without statistics.
        source_catalog, plan = _plan(src, tgt, replace(options.plan_options, analyze=True))
        _raise_conflicts(plan)
        if not (options.include or options.exclude):
            # The walk-through moved the rows table by table; large objects belong to none of them.
            refuse_foreign_objects(src, tgt)
            assert source_url is not None and target_url is not None
            out.large_objects = copy_large_objects(source_url, target_url, snapshot_id=None, listener=emit,
                                                   cancel=cancel)
        with _phase(emit, Phase.POST_DATA):
            steps = [s for s in plan.phase(Phase.POST_DATA) if s.status == StepStatus.CREATE]
            for step in steps:
                if cancel is not None and cancel.is_set():
                    raise PghaulError("stopped on request", "call the post-data phase again to finish it")
                if step.kind == StepKind.VECTOR_INDEX:
                    assert target_url is not None
                    build_vector_index(tgt, target_url, step, apply_steps, emit, options.maintenance_work_mem_kb)
                else:
                    apply_steps(tgt, [step], emit)
                out.applied.append(step.name)
            apply_steps(tgt, plan.analyze_steps, emit)
        with _phase(emit, Phase.SEQUENCES):
            positions = read_positions(src, selected_sequences(source_catalog, {t.key for t in plan.tables}))
            out.sequences_set = apply_positions(tgt, positions)
        created_objects.remember_definitions(tgt, dump_schema_of(tgt))
    return out
