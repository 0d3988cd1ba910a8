"""db-sync: bring a migrated target up to date with the source (pghaul.sync) as background work, its progress
table by table while it runs and its report once done.

The job is one of the router's background jobs (pghaul.http.jobs): one at a time per target, none while a
migration runs, bounded to the pool size like a migration job. Its report lives in this process only (a sync
records no job row on the target): a restarted server shows no sync until the next one.
"""

from __future__ import annotations

from typing import Any

from pghaul.http import following
from pghaul.http.errors import status_for
from pghaul.http.jobs import JobConflict, JobKind, Work, WorkState
from pghaul.http.live import LiveProgress
from pghaul.http.migration import job_workers, refuse_target_is_source
from pghaul.http.replies import (
    JobState,
    LiveReply,
    StartReply,
    SyncProgress,
    SyncReply,
    SyncReport,
    TableSyncReply,
)
from pghaul.http.runtime import Runtime
from pghaul.sync.options import SyncOptions
from pghaul.sync.progress import TableSynced

SYNC = JobKind.SYNC
NO_SYNC_YET = "no sync since this server started: start one with POST db-sync"


def sync_options(rt: Runtime, work: Work) -> SyncOptions:
    # Without a bound the engine takes a worker per core; a sync opens what a migration job opens per worker
    # (one session on each database) and as many besides, so the migration job's bound keeps it within the pool.
    return SyncOptions(workers=job_workers(rt.settings.pool_size), job_id=work.job_id)


def refuse_while_busy(rt: Runtime, kind: JobKind) -> None:
    """Before a job of ``kind`` that syncs starts: a job of this server in the way is named as such, and a
    migration run by another process (a second replica, the CLI), which holds the target, is said at once (409)
    instead of by the engine later in the job."""
    from pghaul.engine.jobs import read_status

    rt.work.refuse_beside(kind)
    with rt.pools.target() as tgt:
        status = read_status(tgt)
    if status.state == "running":
        raise JobConflict(JobKind.MIGRATE, "a pghaul migration into this target is running",
                          "wait until db-status shows it finished, then sync")


def start_sync_reply(rt: Runtime) -> StartReply:
    """POST db-sync: start a sync in the background (or show the one running); GET db-sync follows it."""
    from pghaul.engine.jobs import new_job_id

    running = rt.work.current(SYNC)
    if running is not None and running.running:
        return StartReply(job_id=running.job_id, state=JobState.RUNNING, started=False)
    refuse_target_is_source(rt)
    refuse_while_busy(rt, SYNC)
    following.refuse_while_following(rt, "a sync")
    work, started = rt.work.start(SYNC, new_job_id(), lambda w, listener: _run_sync(rt, w, listener))
    return StartReply(job_id=work.job_id, state=JobState.RUNNING, started=started)


def _run_sync(rt: Runtime, work: Work, listener: Any) -> dict[str, Any]:
    from pghaul.engine import sync

    report = sync(rt.source_url, rt.target_url, sync_options(rt, work), listener, work.cancel)
    return {"sync": report.to_dict()}


def table_synced(event: TableSynced) -> TableSyncReply:
    return TableSyncReply(
        table=event.table, method=event.method, ranges_compared=event.ranges_compared,
        ranges_differing=event.ranges_differing, rows_inserted=event.rows_inserted,
        rows_updated=event.rows_updated, rows_deleted=event.rows_deleted,
        rows_changed=event.rows_inserted + event.rows_updated + event.rows_deleted, seconds=event.seconds,
    )


def sync_progress(live: LiveProgress) -> SyncProgress:
    total, done, _ = live.sync_progress()
    return SyncProgress(tables_total=total, tables_done=[table_synced(e) for e in done],
                        large_objects=LiveReply.model_validate(live.snapshot()).large_objects)


def job_outcome(work: Work | None) -> dict[str, Any]:
    """A job's state, id and (once failed) error, hint, code and status: the fields of JobOutcome."""
    if work is None:
        return {"state": JobState.IDLE}
    if work.running:
        return {"state": JobState.RUNNING, "job_id": work.job_id,
                "elapsed_seconds": LiveReply.model_validate(work.live.snapshot()).elapsed_seconds}
    if work.state == WorkState.FAILED:
        return {"state": JobState.FAILED, "job_id": work.job_id, "error": work.error, "hint": work.hint,
                "code": work.code, "status": None if work.code is None else status_for(work.code)}
    return {"state": JobState.DONE, "job_id": work.job_id}


def sync_reply(rt: Runtime) -> SyncReply:
    """GET db-sync: the latest sync of this server. Starts nothing (POST does)."""
    work = rt.work.current(SYNC)
    reply = SyncReply(**job_outcome(work))
    if work is None:
        reply.hint = NO_SYNC_YET
    elif reply.state in (JobState.RUNNING, JobState.FAILED):
        reply.progress = sync_progress(work.live)  # a failed sync's finished tables stay committed
    elif work.result is not None:
        reply.report = SyncReport.model_validate(work.result["sync"])
    # Reports name the servers without passwords; an engine message could still quote one: scrubbed here.
    return rt.scrubber.model(reply)
