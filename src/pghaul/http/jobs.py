"""Background work started by a request: the whole migration (``db-migrate-all``), the post-data phase,
verification (``db-verify``), a sync (``db-sync``), the cutover's two steps (``db-cutover``) and follow started
on a migrated target (``db-follow``).

Each runs in a thread of the server process with a cancel event that the app's shutdown sets. The durable state
(job row, checkpoints) lives on the target, written by the engine, so a restarted server reads where the last
one stopped and a new ``db-migrate-all`` resumes from the last committed chunk.

One job at a time, of any kind: they would compete for the same tables (a post-data phase building indexes while
a migration copies, a verification reading rows still moving). Starting one and checking that no other runs is a
single step under one lock, and so is a short task's check that no job it would disturb runs: a one-batch copy
beside a job that writes rows (a batch and a migration filling the same keyless table would both insert its rows),
an unfreeze beside the cutover's finish (it would make the source writable under the final sync), stopping follow
beside a migration or a finish (they create, wait on and drop follow's objects).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pghaul import events
from pghaul.errors import ErrorCode, PghaulError, SafetyError
from pghaul.http.live import LiveProgress
from pghaul.http.scrubbing import LogScrubber

log = logging.getLogger("pghaul.http")

# How long shutdown waits for a job to reach a chunk boundary after it was told to stop.
STOP_WAIT_SECONDS = 30.0


class JobKind(StrEnum):
    MIGRATE = "migrate"
    POST_DATA = "post-data"
    VERIFY = "verify"
    SYNC = "sync"
    CATCH_UP = "catch-up"  # the cutover's first step: sync rounds while the app still writes
    CUTOVER = "cutover"  # the cutover's finish: writes paused, optional freeze, last sync, full verify
    FOLLOW = "follow"  # follow started on a migrated target: a slot, sync in its snapshot, the subscription


class WorkState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# How a refusal names the job that is in the way (the migration guide lists these messages).
JOB_NAMES = {
    JobKind.MIGRATE: "a full migration (db-migrate-all)",
    JobKind.POST_DATA: "the post-data phase",
    JobKind.VERIFY: "a verification (db-verify)",
    JobKind.SYNC: "a sync (db-sync)",
    JobKind.CATCH_UP: "the cutover's catch-up (db-cutover)",
    JobKind.CUTOVER: "the cutover's finish (db-cutover)",
    JobKind.FOLLOW: "a follow start (db-follow)",
}

# The jobs that write rows to the target: a one-batch copy beside one of them could insert or replace the same
# rows twice over.
ROW_WRITERS = frozenset({JobKind.MIGRATE, JobKind.SYNC, JobKind.CATCH_UP, JobKind.CUTOVER, JobKind.FOLLOW})


class ShortTask(StrEnum):
    """Work done inside a request (not a job) that some jobs must not run beside."""

    BATCH = "batch"  # db-migrate-data: one batch of one table
    UNFREEZE = "unfreeze"  # db-unfreeze: the source writable again
    STOP_FOLLOW = "stop-follow"  # db-stop-follow: follow's subscription, slot and publication dropped


# Per short task: the jobs it may not run beside, how a refusal names the task, and what to do when a job is in
# the way (the migration guide lists these messages).
SHORT_TASKS: dict[ShortTask, tuple[frozenset[JobKind], str, str]] = {
    ShortTask.BATCH: (ROW_WRITERS, "a one-batch copy (db-migrate-data)", "retry in a moment: a batch takes seconds"),
    ShortTask.UNFREEZE: (frozenset({JobKind.CUTOVER}), "an unfreeze (db-unfreeze)",
                         "retry in a moment: it takes a second"),
    # A migration with follow or a follow start creates the slot, the publication and the subscription; a finish
    # waits on them and drops them itself: stopping follow under any would pull replication from under it.
    ShortTask.STOP_FOLLOW: (frozenset({JobKind.MIGRATE, JobKind.CUTOVER, JobKind.FOLLOW}),
                            "stopping follow (db-stop-follow)", "retry in a moment: it takes a few seconds"),
}
BATCH_BESIDE_JOB_HINT = {
    JobKind.MIGRATE: "it copies every table itself: follow it in db-status instead of sending batches",
}
UNFREEZE_BESIDE_FINISH_HINT = ("the finish froze the source for its last sync and verify: wait until db-cutover "
                               "shows it finished, then unfreeze")
STOP_FOLLOW_BESIDE_JOB_HINT = {
    JobKind.MIGRATE: "the migration sets up replication at its end: wait until db-status shows it finished, then "
                     "stop following",
    JobKind.CUTOVER: "the finish takes replication down itself once verified: wait until db-cutover shows it "
                     "finished",
    JobKind.FOLLOW: "the follow start creates the slot, the publication and the subscription: wait until "
                    "db-follow shows it finished, then stop following",
}


class JobConflict(SafetyError):
    """Another job (or a one-batch copy) is in the way; ``running`` says which kind, None for a batch."""

    def __init__(self, running: JobKind | None, message: str, hint: str) -> None:
        super().__init__(message, hint)
        self.running = running


Body = Callable[["Work", events.Listener], dict[str, Any] | None]


@dataclass
class Work:
    """One background run: its thread, its cancel event, what it watches, and how it ended."""

    job_id: str
    kind: JobKind
    live: LiveProgress = field(default_factory=LiveProgress)
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    state: WorkState = WorkState.RUNNING
    error: str | None = None
    hint: str | None = None
    code: ErrorCode | None = None  # the failure's kind when pghaul understood it; None: an internal error
    result: dict[str, Any] | None = None
    finished_at: float | None = None  # wall-clock seconds, to tell which of two reports is newer
    # A migration that asked for follow and was refused before writing: the preflight with every reason
    # (pghaul.follow.FollowPreflight.to_dict), for db-status to list.
    follow_refused: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


class BackgroundWork:
    """At most one background run at a time in this process, and no short task beside a job it would disturb."""

    def __init__(self, listener: events.Listener = events.ignore, scrubber: LogScrubber | None = None) -> None:
        self._lock = threading.Lock()
        # What a job's error says is shown in db-status and logged: without the secrets.
        self._scrubber = scrubber if scrubber is not None else LogScrubber()
        self._current: dict[JobKind, Work] = {}
        self._short: dict[ShortTask, int] = dict.fromkeys(ShortTask, 0)  # short tasks in progress
        self._listener = listener

    def current(self, kind: JobKind) -> Work | None:
        with self._lock:
            return self._current.get(kind)

    def _running_other(self, kind: JobKind | None) -> JobKind | None:
        return next((k for k, w in self._current.items() if k != kind and w.running), None)

    def start(self, kind: JobKind, job_id: str, body: Body) -> tuple[Work, bool]:
        """Start ``body`` unless a run of this kind is already going (then return that one, and False).

        Raises :class:`JobConflict` when a run of another kind is going, or a short task that may not run beside
        this kind (a job that writes rows while a batch is copied): checked and started under one lock, so two
        requests can never both start.
        """
        with self._lock:
            existing = self._current.get(kind)
            if existing is not None and existing.running:
                return existing, False
            self._refuse_beside(kind)
            work = Work(job_id=job_id, kind=kind)
            listener = events.fan_out(work.live, self._listener)
            work.thread = threading.Thread(
                target=self._run, args=(work, body, listener), name=f"pghaul-{kind}-{job_id[:8]}", daemon=True
            )
            self._current[kind] = work
            work.thread.start()
            return work, True

    def refuse_beside(self, kind: JobKind) -> None:
        """Raise the JobConflict ``start`` would raise for ``kind`` now, without starting anything: for checks a
        request makes before it starts a job (``start`` checks again)."""
        with self._lock:
            self._refuse_beside(kind)

    def _refuse_beside(self, kind: JobKind) -> None:
        other = self._running_other(kind)
        if other is not None:
            raise JobConflict(other, f"{JOB_NAMES[other]} is running on this target",
                              "wait until db-status shows it finished, then retry")
        for task, (kinds, name, hint) in SHORT_TASKS.items():
            if kind in kinds and self._short[task]:
                raise JobConflict(None, f"{name} is running on this target", hint)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold while one batch is copied: refused while a job that writes rows runs, and none starts meanwhile."""
        with self.short_task(ShortTask.BATCH, BATCH_BESIDE_JOB_HINT):
            yield

    @contextmanager
    def short_task(self, task: ShortTask, hints: dict[JobKind, str] | None = None) -> Iterator[None]:
        """Hold while ``task`` runs: refused (JobConflict) while a job it may not run beside runs, and no such job
        starts meanwhile. ``hints`` says what to do per job kind in the way."""
        kinds = SHORT_TASKS[task][0]
        with self._lock:
            running = next((k for k, w in self._current.items() if k in kinds and w.running), None)
            if running is not None:
                raise JobConflict(running, f"{JOB_NAMES[running]} is running on this target",
                                  (hints or {}).get(running, "wait until it has finished, then retry"))
            self._short[task] += 1
        try:
            yield
        finally:
            with self._lock:
                self._short[task] -= 1

    def _run(self, work: Work, body: Body, listener: events.Listener) -> None:
        scrub = self._scrubber.text
        try:
            work.result = body(work, listener)
            stopped = work.cancel.is_set() and work.result is None
            work.state = WorkState.FAILED if stopped else WorkState.DONE
            if stopped:
                work.error = "stopped: the server shut down before the job finished"
        except PghaulError as exc:
            work.state, work.error, work.hint = WorkState.FAILED, scrub(exc.message), scrub(exc.hint)
            work.code = exc.code
            log.warning("%s job %s failed: %s", work.kind, work.job_id, scrub(str(exc)))
        except Exception as exc:
            work.state, work.error = WorkState.FAILED, "internal error: " + scrub(f"{type(exc).__name__}: {exc}")
            work.hint = "see the server log, then start it again: it resumes where it stopped"
            log.error("%s job %s crashed", work.kind, work.job_id, exc_info=exc)
        finally:
            work.finished_at = time.time()

    def stop_all(self, wait: float = STOP_WAIT_SECONDS) -> None:
        with self._lock:
            runs = list(self._current.values())
        for work in runs:
            work.cancel.set()
            if work.running:
                # Tells watchers (the page's log, a test holding the job at a chunk boundary) why it stops.
                self._listener(events.Notice(f"stopping {work.kind} job {work.job_id}: the server is shutting down",
                                             level="warning"))
        for work in runs:
            if work.thread is not None:
                work.thread.join(wait)
