"""The data phase: N workers take key ranges (longest first) and, as each table's data is complete and no range
is left to take, that table's post-data steps (its indexes and constraints), so index builds overlap the last
ranges of other tables without taking a worker from the copy. Given a checker (``migrate`` with verification),
each table is then compared with the source once its rows and those steps are in, beside the last ranges of
other tables and the vector index builds, so verification adds little to the run.

Every worker reads the one exported snapshot; every chunk commits with its checkpoint. The first failure stops
all workers between chunks and is raised: a run never reports partial success.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg

from pghaul.connect import connect_target
from pghaul.copy.indexes import (
    choose_vector_settings,
    graph_fit_warnings,
    session_settings,
    watch_index_build,
)
from pghaul.copy.rate_limit import RateLimit
from pghaul.copy.replica_role import SET_REPLICA_ROLE
from pghaul.copy.snapshot import open_reader
from pghaul.copy.state import RangeState
from pghaul.copy.stop_in_flight import cancel_statement_on_stop
from pghaul.copy.table_data import copy_range, value_refused
from pghaul.errors import check_cancelled
from pghaul.events import Listener, Notice, TableFinished, TableProgress, TableStarted
from pghaul.inspect.model import QualifiedName, Table
from pghaul.kinds import StepKind, StepStatus
from pghaul.limits import DEFAULT_CHUNK_ROWS
from pghaul.plan.steps import Step

# Steps whose build is worth watching in pg_stat_progress_create_index.
_INDEX_BUILDS = frozenset({StepKind.INDEX, StepKind.VECTOR_INDEX, StepKind.INDEX_ATTACH})


@dataclass(frozen=True)
class TableJob:
    """One table to copy: the source's definition, the ranges recorded for it, the stream format, and the cap on
    reading the source (``--max-rate``): one bucket shared by every job of the run, so the cap is the run's."""

    table: Table
    ranges: tuple[RangeState, ...]
    binary: bool
    rows_estimated: int
    rate: RateLimit | None = field(default=None, compare=False, repr=False)

    @property
    def done(self) -> bool:
        return all(r.done for r in self.ranges)


@dataclass
class TableStats:
    table: str
    rows_copied: int = 0
    rows_skipped: int = 0
    bytes: int = 0
    seconds: float = 0.0
    rows_estimated: int = 0
    ranges: int = 1
    binary: bool = True
    # Finished by an earlier run: nothing was read or written for it now.
    already_done: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table, "rowsCopied": self.rows_copied, "rowsSkipped": self.rows_skipped,
            "bytes": self.bytes, "seconds": round(self.seconds, 3), "rowsEstimated": self.rows_estimated,
            "ranges": self.ranges, "format": "binary" if self.binary else "text", "alreadyDone": self.already_done,
        }


@dataclass(frozen=True)
class StepBatch:
    """Post-data steps of one table, run in plan order by one worker (a vector index is a batch of its own)."""

    owner: QualifiedName
    steps: tuple[Step, ...]
    vector: bool = False
    # Builds long enough to be worth reporting progress from pg_stat_progress_create_index (vector, large tables).
    watch: bool = False


@dataclass(frozen=True)
class DataPhaseOptions:
    workers: int = 2
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    # maintenance_work_mem for vector index builds as the user gave it; None: sized per index from its table.
    vector_memory_kb: int | None = None
    # Data-only into a schema with foreign keys and triggers: hold them off (pghaul.copy.replica_role).
    replica_role: bool = False


@dataclass
class DataPhaseResult:
    stats: dict[QualifiedName, TableStats]
    steps_run: list[Step] = field(default_factory=list)
    snapshot_imported: bool = True


ApplySteps = Callable[[psycopg.Connection, list[Step], Listener], Any]


@dataclass(frozen=True)
class CheckTask:
    """Compare one copied table with the source: its rows are all in, and so are its own post-data steps (not its
    vector index builds, which the check overlaps: a build takes a SHARE lock, which reads do not wait for)."""

    table: Table


Task = tuple[TableJob, RangeState] | StepBatch | CheckTask


class CheckSession(Protocol):
    """One worker's means of comparing tables (its own source session; the target side runs on the target session
    the worker is given)."""

    def check(self, table: Table, target: psycopg.Connection) -> None: ...

    def close(self) -> None: ...


class TableChecker(Protocol):
    """What compares a table once it is copied (``pghaul.verify.table_check.TableChecks``); it records and reports
    each result itself. The copy knows nothing of verification beyond this."""

    def session(self) -> CheckSession: ...


class _Tracker:
    """Per-table counters shared by the workers; emits the table events."""

    def __init__(self, jobs: list[TableJob], listener: Listener) -> None:
        self.lock = threading.Lock()
        self.listener = listener
        self.stats: dict[QualifiedName, TableStats] = {}
        self.remaining: dict[QualifiedName, int] = {}
        self.started: dict[QualifiedName, float] = {}
        self.estimates: dict[QualifiedName, int] = {}
        for job in jobs:
            key = job.table.key
            self.stats[key] = TableStats(
                job.table.display_name, rows_estimated=job.rows_estimated, ranges=len(job.ranges),
                binary=job.binary, already_done=job.done,
            )
            self.remaining[key] = sum(1 for r in job.ranges if not r.done)
            self.estimates[key] = job.rows_estimated

    def begin(self, table: Table) -> None:
        with self.lock:
            if table.key in self.started:
                return
            self.started[table.key] = time.monotonic()
            stats = self.stats[table.key]
        self.listener(TableStarted(table.display_name, stats.rows_estimated, table.size_bytes))

    def chunk(self, table: Table, inserted: int, skipped: int, nbytes: int) -> None:
        with self.lock:
            stats = self.stats[table.key]
            stats.rows_copied += inserted
            stats.rows_skipped += skipped
            stats.bytes += nbytes
            elapsed = time.monotonic() - self.started[table.key]
            stats.seconds = elapsed
            done_rows = stats.rows_copied + stats.rows_skipped
            event = TableProgress(
                table.display_name, done_rows, max(stats.rows_estimated, done_rows), stats.bytes,
                done_rows / elapsed if elapsed > 0 else 0.0,
            )
        self.listener(event)

    def rows(self, keys: set[QualifiedName]) -> int | None:
        """Rows now in these tables as far as the copy knows (an estimate for tables an earlier run copied)."""
        with self.lock:
            known = [k for k in keys if k in self.stats]
            if not known:
                return None
            return sum(
                max(self.stats[k].rows_copied + self.stats[k].rows_skipped, self.estimates[k] if
                    self.stats[k].already_done else 0)
                for k in known
            )

    def range_done(self, table: Table) -> bool:
        """Count one finished range; True when it was the table's last."""
        with self.lock:
            self.remaining[table.key] -= 1
            finished = self.remaining[table.key] == 0
            stats = self.stats[table.key]
            if finished:
                stats.seconds = time.monotonic() - self.started[table.key]
        if finished:
            self.listener(TableFinished(table.display_name, stats.rows_copied, stats.rows_skipped, stats.bytes,
                                        stats.seconds))
        return finished


def _range_bytes(job: TableJob, rng: RangeState) -> float:
    if job.rows_estimated > 0 and rng.rows_estimated > 0:
        return job.table.size_bytes * rng.rows_estimated / job.rows_estimated
    return job.table.size_bytes / max(len(job.ranges), 1)


class _Scheduler:
    """Hands out work: copy ranges first, longest first; then the post-data steps of finished tables, vector index
    builds one at a time; then, with ``check``, the comparison of each table whose rows and own steps are in. A
    finished table's steps wait for a worker that has no range left to take: on 2 cores an HNSW build (with its
    parallel maintenance worker) or a btree build taken while ranges remained left one worker copying alone (rows
    1.7 s against 0.9 s for the raw stream at scale 0.25), and a build started later costs no more. Checks come
    last for the same reason, and so that the long HNSW build starts as early as it can: they fill the workers
    the one-at-a-time vector builds leave free."""

    def __init__(
        self, jobs: list[TableJob], step_batches: dict[QualifiedName, list[StepBatch]],
        owners: dict[QualifiedName, set[QualifiedName]], *, check: bool = False,
    ) -> None:
        self.cond = threading.Condition()
        # Longest first over all tables (each range's share of its table's bytes), so the last ranges are short
        # and no worker is left alone with a long one.
        self.copies: deque[tuple[TableJob, RangeState]] = deque(
            sorted(
                ((job, rng) for job in jobs for rng in job.ranges if not rng.done),
                key=lambda task: (-_range_bytes(*task), task[0].table.key, task[1].range_no),
            )
        )
        self.steps: deque[StepBatch] = deque()
        self.vector_steps: deque[StepBatch] = deque()
        self.vector_busy = False
        self.in_flight = 0
        self.failed: BaseException | None = None
        self.stop = threading.Event()
        self.pending_batches = step_batches
        # owner (the table a step names) -> copyable tables whose data it waits for; done ones removed as they end
        self.waiting = {owner: set(tables) for owner, tables in owners.items()}
        self.done_tables: set[QualifiedName] = {j.table.key for j in jobs if j.done}
        for owner in list(self.waiting):
            self.waiting[owner] -= self.done_tables
        # Checks, after copies and steps: a table is checked once its rows are in and its owner's plain batch
        # (indexes, constraints, ANALYZE) has run. Tables an earlier run copied are checked too.
        self.checks: deque[CheckTask] = deque()
        self.unchecked = {j.table.key: j.table for j in jobs} if check else {}
        self.owner_tables = {owner: set(tables) for owner, tables in owners.items()}
        self.check_owner = {table: owner for owner, tables in owners.items() for table in tables}
        self.plain_pending = {o for o, batches in step_batches.items() if any(not b.vector for b in batches)}
        self._release_ready()
        self._release_checks(list(self.unchecked))

    def _release_ready(self) -> None:
        for owner, tables in list(self.waiting.items()):
            if not tables:
                del self.waiting[owner]
                for batch in self.pending_batches.pop(owner, []):
                    (self.vector_steps if batch.vector else self.steps).append(batch)

    def _release_checks(self, keys: list[QualifiedName]) -> None:
        for key in keys:
            ready = key in self.done_tables and self.check_owner.get(key) not in self.plain_pending
            if ready and key in self.unchecked:
                self.checks.append(CheckTask(self.unchecked.pop(key)))

    def table_done(self, key: QualifiedName) -> None:
        with self.cond:
            self.done_tables.add(key)
            for tables in self.waiting.values():
                tables.discard(key)
            self._release_ready()
            self._release_checks([key])
            self.cond.notify_all()

    def next(self) -> Task | None:
        with self.cond:
            while True:
                if self.stop.is_set():
                    return None
                task: Task | None = None
                if self.copies:
                    task = self.copies.popleft()
                elif self.steps:
                    task = self.steps.popleft()
                elif self.vector_steps and not self.vector_busy:
                    task = self.vector_steps.popleft()
                    self.vector_busy = True
                elif self.checks:
                    task = self.checks.popleft()
                if task is not None:
                    self.in_flight += 1
                    return task
                if self.in_flight == 0 and not self.vector_steps:
                    return None
                self.cond.wait()

    def finished(self, task: Task, error: BaseException | None) -> None:
        with self.cond:
            self.in_flight -= 1
            if isinstance(task, StepBatch) and task.vector:
                self.vector_busy = False
            if error is not None:
                if self.failed is None:
                    self.failed = error
                    self.stop.set()
            elif isinstance(task, StepBatch) and not task.vector:
                self.plain_pending.discard(task.owner)
                self._release_checks(list(self.owner_tables.get(task.owner, ())))
            self.cond.notify_all()


@dataclass
class DataPhase:
    """One data phase: copy every range of ``jobs`` and run each owner's step batches once its tables' data is
    complete. ``run`` starts the workers and the thread that watches for a cancel, and raises the first failure."""

    source_url: str
    target_url: str
    jobs: list[TableJob]
    step_batches: dict[QualifiedName, list[StepBatch]]
    owners: dict[QualifiedName, set[QualifiedName]]
    apply: ApplySteps
    snapshot_id: str | None
    options: DataPhaseOptions
    job_id: str | None
    listener: Listener
    cancel: threading.Event | None = None
    checker: TableChecker | None = None  # compares each table once it is in (None: no verification)

    def __post_init__(self) -> None:
        self.tracker = _Tracker(self.jobs, self.listener)
        self.scheduler = _Scheduler(self.jobs, self.step_batches, self.owners, check=self.checker is not None)
        self.result = DataPhaseResult(self.tracker.stats)
        self.result_lock = threading.Lock()

    def run(self) -> DataPhaseResult:
        count = max(1, self.options.workers)
        caps = {id(j.rate): j.rate for j in self.jobs if j.rate is not None and not j.done}
        for cap in caps.values():
            self.listener(Notice(f"reading the source at most {cap.describe()}, all {count} worker(s) together "
                                 "(--max-rate)"))
        threads = [threading.Thread(target=self.work, name=f"pghaul-worker-{i}", daemon=True) for i in range(count)]
        watcher = threading.Thread(target=self.watch_cancel, name="pghaul-cancel-watch", daemon=True)
        watcher.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.scheduler.stop.set()
        watcher.join(timeout=1)
        if self.scheduler.failed is not None:
            raise self.scheduler.failed
        check_cancelled(self.cancel)
        if not self.result.snapshot_imported and self.snapshot_id:
            self.listener(Notice(
                "a worker could not import the exported snapshot; its tables were read at a later moment",
                level="warning",
            ))
        return self.result

    def should_stop(self) -> bool:
        return self.scheduler.stop.is_set() or (self.cancel is not None and self.cancel.is_set())

    def watch_cancel(self) -> None:
        """Wake the workers waiting for work once a cancel is asked for, so they stop between chunks."""
        if self.cancel is None:
            return
        while not self.scheduler.stop.is_set():
            if self.cancel.wait(0.2):
                self.scheduler.stop.set()
                with self.scheduler.cond:
                    self.scheduler.cond.notify_all()
                return

    def work(self) -> None:
        """One worker: its own session on each server, tasks until none is left or the phase stops."""
        sessions = _WorkerSessions(self.checker)
        try:
            while (task := self.scheduler.next()) is not None:
                error: BaseException | None = None
                try:
                    self.run_task(task, sessions)
                except BaseException as exc:  # handed to the main thread, which raises it
                    error = exc
                self.scheduler.finished(task, error)
        finally:
            sessions.close()

    def run_task(self, task: Task, sessions: _WorkerSessions) -> None:
        tgt = sessions.target(self.target_url, self.options.replica_role)
        if not isinstance(task, tuple):
            sessions.done_copying()
        if isinstance(task, CheckTask):
            sessions.check(task.table, tgt)
            return
        if isinstance(task, StepBatch):
            rows = self.tracker.rows(self.owners.get(task.owner, set())) if task.vector else None
            _run_steps(task, tgt, self.target_url, self.apply, self.options.vector_memory_kb, rows, self.listener,
                       self.cancel)
            with self.result_lock:
                self.result.steps_run.extend(task.steps)
            return
        src = sessions.source(self.source_url, self.snapshot_id)
        if not sessions.imported:
            with self.result_lock:
                self.result.snapshot_imported = False
        job, rng = task
        self.tracker.begin(job.table)
        try:
            copy_range(
                src, tgt, job.table, rng, binary=job.binary, chunk_rows=self.options.chunk_rows, job_id=self.job_id,
                should_stop=self.should_stop, on_chunk=lambda i, s, b, t=job.table: self.tracker.chunk(t, i, s, b),
                rate=job.rate,
            )
        except psycopg.errors.DataError as exc:
            raise value_refused(job.table, exc) from exc
        if self.tracker.range_done(job.table):
            self.scheduler.table_done(job.table.key)


class _WorkerSessions:
    """A worker's sessions, opened on first need and kept for all its tasks."""

    def __init__(self, checker: TableChecker | None = None) -> None:
        self.src: psycopg.Connection | None = None
        self.tgt: psycopg.Connection | None = None
        self.imported = True
        self.checker = checker
        self.checks: CheckSession | None = None

    def target(self, target_url: str, replica_role: bool) -> psycopg.Connection:
        if self.tgt is None:
            self.tgt = connect_target(target_url)
            # Safe for exactly-once: a lost commit loses the chunk and its checkpoint together.
            self.tgt.execute("SET synchronous_commit = off")
            if replica_role:
                self.tgt.execute(SET_REPLICA_ROLE)
        return self.tgt

    def source(self, source_url: str, snapshot_id: str | None) -> psycopg.Connection:
        if self.src is None:
            self.src, self.imported = open_reader(source_url, snapshot_id)
        return self.src

    def done_copying(self) -> None:
        """Copies go out before any other task, so a worker given another has copied its last range: its reader
        goes, and a check session on the source takes its place rather than adding to the server's connections."""
        if self.src is not None:
            _close_quietly(self.src)
            self.src = None

    def check(self, table: Table, tgt: psycopg.Connection) -> None:
        assert self.checker is not None
        if self.checks is None:
            self.checks = self.checker.session()
        self.checks.check(table, tgt)

    def close(self) -> None:
        if self.checks is not None:
            self.checks.close()
        for conn in (self.src, self.tgt):
            if conn is not None:
                _close_quietly(conn)


def _close_quietly(conn: psycopg.Connection) -> None:
    try:
        conn.close()
    except psycopg.Error:
        pass


def _run_steps(
    batch: StepBatch,
    tgt: psycopg.Connection,
    target_url: str,
    apply: ApplySteps,
    vector_memory_kb: int | None,
    rows: int | None,
    listener: Listener,
    cancel: threading.Event | None = None,
) -> None:
    """Each step of ``batch`` in its own transaction; a stop asked for cancels the one in flight."""
    if not batch.vector and not batch.watch:
        with cancel_statement_on_stop(tgt, cancel, _described(batch.steps)):
            apply(tgt, list(batch.steps), listener)  # one call: the steps of a table, with nothing to watch
        return
    for step in batch.steps:
        with cancel_statement_on_stop(tgt, cancel, _described([step])):
            if batch.vector:
                build_vector_index(tgt, target_url, step, apply, listener, vector_memory_kb, rows)
            elif step.kind in _INDEX_BUILDS:
                with watch_index_build(target_url, tgt.info.backend_pid, step.name, listener):
                    apply(tgt, [step], listener)
            else:
                apply(tgt, [step], listener)


def _described(steps: tuple[Step, ...] | list[Step]) -> str:
    if len(steps) == 1:
        return f"{steps[0].kind} {steps[0].name}"
    return "one of " + ", ".join(f"{step.kind} {step.name}" for step in steps)


def build_vector_index(
    tgt: psycopg.Connection,
    target_url: str,
    step: Step,
    apply: ApplySteps,
    listener: Listener,
    memory_kb: int | None = None,
    rows: int | None = None,
) -> None:
    """One HNSW/IVFFlat step with memory sized to its graph, its progress reported, and a warning when
    PostgreSQL says the graph still outgrew the memory."""
    if step.status != StepStatus.CREATE:
        apply(tgt, [step], listener)
        return
    table = tuple(step.table) if step.table is not None else None
    chosen = choose_vector_settings(tgt, memory_kb, table=table, rows=rows, step_sql=step.sql)
    listener(Notice(f"building vector index {step.name} with {chosen.describe()}"))
    with (
        session_settings(tgt, chosen.settings()),
        graph_fit_warnings(tgt) as outgrown,
        watch_index_build(target_url, tgt.info.backend_pid, step.name, listener),
    ):
        apply(tgt, [step], listener)
    if outgrown:
        listener(Notice(
            f"the graph of vector index {step.name} outgrew maintenance_work_mem "
            f"({chosen.maintenance_work_mem_kb / 1024:,.0f} MB), which slowed its build", "warning",
            [*outgrown[:1], "give more with --maintenance-work-mem (the target's RAM allowing)"],
        ))


def batches_for(
    steps: list[Step],
    owner_of: Callable[[QualifiedName], QualifiedName] = lambda key: key,
    large: Callable[[QualifiedName], bool] = lambda key: False,
) -> dict[QualifiedName, list[StepBatch]]:
    """Group post-data steps that name a table into per-owner batches (plan order kept inside each); each vector
    index becomes its own batch. ``owner_of`` maps a partition to its root, whose index steps it attaches to."""
    grouped: dict[QualifiedName, list[Step]] = {}
    vector: dict[QualifiedName, list[StepBatch]] = {}
    for step in steps:
        if step.table is None:
            continue
        owner = owner_of(tuple(step.table))
        if step.kind == StepKind.VECTOR_INDEX:
            vector.setdefault(owner, []).append(StepBatch(owner, (step,), vector=True, watch=True))
        else:
            grouped.setdefault(owner, []).append(step)
    out: dict[QualifiedName, list[StepBatch]] = {}
    for owner in {*grouped, *vector}:
        plain = [StepBatch(owner, tuple(grouped[owner]), watch=large(owner))] if owner in grouped else []
        out[owner] = plain + vector.get(owner, [])
    return out
