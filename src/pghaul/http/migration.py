"""The endpoints browser-only users need beyond the old three: the whole migration as a background job, its
status, verification, preflight, and the post-data phase of the batch walk-through.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from typing import Any

from pghaul.engine.jobs import JobStatus
from pghaul.engine.readiness import readiness
from pghaul.errors import RESUME_HINT
from pghaul.follow.status import FollowState
from pghaul.http import following
from pghaul.http.jobs import JobKind, Work, WorkState
from pghaul.http.live import LiveProgress
from pghaul.http.names import api_name
from pghaul.http.replies import (
    ErrorItem,
    ExtensionReply,
    LiveReply,
    MigrationReport,
    PlanSummary,
    PostDataJobReply,
    PreflightReply,
    PreviewReply,
    ServerReply,
    StartReply,
    StatusReply,
    TableProgressReply,
    VerifyJobReply,
    VerifyReply,
    VerifyReport,
)
from pghaul.http.runtime import Runtime

MIGRATE = JobKind.MIGRATE
POST_DATA = JobKind.POST_DATA
VERIFY = JobKind.VERIFY

# How many connections a db-migrate-all job opens per database besides its workers' own (one each per database),
# counted from pghaul.engine and pghaul.copy: on the source the run's control connection and the transaction that
# holds the exported snapshot; on the target the control connection. On the target each worker may also open one
# short-lived connection that watches an index build it runs (pghaul.copy.indexes.watch_index_build), so a worker
# can count twice there. The job therefore uses at most 2 + workers (source) and 1 + 2 x workers (target).
JOB_SOURCE_CONNECTIONS_BESIDES_WORKERS = 2
JOB_TARGET_CONNECTIONS_BESIDES_WORKERS = 1
JOB_TARGET_CONNECTIONS_PER_WORKER = 2


def job_workers(pool_size: int) -> int:
    """Workers for a db-migrate-all job so that it opens at most ``pool_size`` connections per database.

    The request pools hold at most ``pool_size`` more of their own, so a server running a job uses at most
    2 x pool_size connections per database (the migration guide says so). A pool size below 3 still gets one
    worker: the job cannot run with fewer than 3 connections per database.
    """
    by_target = (pool_size - JOB_TARGET_CONNECTIONS_BESIDES_WORKERS) // JOB_TARGET_CONNECTIONS_PER_WORKER
    by_source = pool_size - JOB_SOURCE_CONNECTIONS_BESIDES_WORKERS
    return max(1, min(by_target, by_source))


def job_connection_limit(pool_size: int) -> int:
    """The most connections per database a db-migrate-all job opens with ``job_workers(pool_size)`` workers."""
    workers = job_workers(pool_size)
    return max(
        JOB_SOURCE_CONNECTIONS_BESIDES_WORKERS + workers,
        JOB_TARGET_CONNECTIONS_BESIDES_WORKERS + JOB_TARGET_CONNECTIONS_PER_WORKER * workers,
    )


# --- the whole migration ----------------------------------------------------------------------------------------


def start_reply(rt: Runtime, dry_run: bool, batch_size: int | None, follow: bool = False,
                max_rate: float | None = None) -> PreviewReply | StartReply:
    """POST db-migrate-all: the plan (dry run), or the migration started, resumed or shown. With ``follow`` the
    engine checks first whether follow is possible and refuses before writing anything if not: the job fails
    with every reason (db-status's ``followRefused``). ``max_rate`` caps reading the source (MB/s)."""
    from pghaul.engine.jobs import new_job_id, read_status

    if dry_run:
        return _plan_preview(rt, follow, max_rate)
    refuse_target_is_source(rt)
    running = rt.work.current(MIGRATE)
    if running is not None and running.running:
        return StartReply(job_id=running.job_id, state="running", started=False)
    with rt.pools.target() as tgt:
        status = read_status(tgt)
    if status.state == "running":
        # Another process (a second replica, or a CLI run) holds the migration: show it, start nothing.
        return StartReply(job_id=status.job_id, state="running", started=False)
    if status.state == "done" and status.job_id is not None:
        return StartReply(job_id=status.job_id, state="done", started=False, hint=_done_hint(rt, follow))
    if not follow:
        following.refuse_migration_without_follow(rt)
    resumed = status.state == "failed" and status.job_id is not None
    job_id = status.job_id if resumed and status.job_id else new_job_id()
    # Refuses (409) while another kind of job or a batch runs; a migration started meanwhile is shown instead.
    work, started = rt.work.start(
        MIGRATE, job_id, lambda w, listener: _run_migration(rt, w, listener, batch_size, follow, max_rate))
    if not started:
        return StartReply(job_id=work.job_id, state="running", started=False)
    return StartReply(job_id=work.job_id, state="running", started=True, resumed=resumed)


DONE_HINT = "this migration is complete; see db-verify, or run `pghaul cleanup` to start over"


def _done_hint(rt: Runtime, follow: bool) -> str:
    if follow and following.target_state(rt) is FollowState.NONE:
        return (DONE_HINT + "; it was made without follow, which can only start with the copy: catch up with "
                "db-sync and the cutover instead")
    return DONE_HINT


def _plan_preview(rt: Runtime, follow: bool, max_rate: float | None = None) -> PreviewReply:
    from pghaul.engine import MigrateOptions, plan_with

    options = MigrateOptions(follow=follow, max_rate=max_rate,
                             follow_source_url=rt.settings.subscription_source_url if follow else None)
    # Through the pools: previews asked for at once wait for a connection instead of each opening two more.
    with rt.pools.source() as src, rt.pools.target() as tgt:
        plan = plan_with(src, tgt, options)  # with follow: a note names what it creates
    plan.notes.extend(options.load_notes)
    return PreviewReply(plan=PlanSummary.of(plan), sql=plan.render_sql())


def _run_migration(rt: Runtime, work: Work, listener: Any, batch_size: int | None,
                   follow: bool, max_rate: float | None = None) -> dict[str, Any] | None:
    from pghaul.engine import MigrateOptions, migrate
    from pghaul.follow import FollowNotPossible

    # Without a bound the engine takes a worker per core (up to 8) and the job would exceed the pool size.
    workers = job_workers(rt.settings.pool_size)
    options = MigrateOptions(job_id=work.job_id, workers=workers, follow=follow, max_rate=max_rate,
                             follow_source_url=rt.settings.subscription_source_url if follow else None)
    if batch_size is not None:
        options = replace(options, batch_size=batch_size)
    try:
        return migrate(rt.source_url, rt.target_url, options, listener=listener, cancel=work.cancel).to_dict()
    except FollowNotPossible as exc:
        work.follow_refused = exc.preflight.to_dict()  # every reason, for db-status to list
        raise


# --- the post-data phase of the batch walk-through ---------------------------------------------------------------


def refuse_target_is_source(rt: Runtime) -> None:
    """The engine refuses too, but in a background job that refusal would only show later in db-status: the
    request that would start writing says it at once (409)."""
    from pghaul.engine.preflight import check_target_is_not_source

    with rt.pools.source() as src, rt.pools.target() as tgt:
        check_target_is_not_source(src, tgt)


def start_post_data(rt: Runtime) -> Work:
    from pghaul.engine.jobs import new_job_id

    refuse_target_is_source(rt)
    work, _ = rt.work.start(POST_DATA, new_job_id(), lambda w, listener: _run_post_data(rt, w, listener))
    return work


def _run_post_data(rt: Runtime, work: Work, listener: Any) -> dict[str, Any] | None:
    from pghaul.engine import finish_post_data

    done = finish_post_data(rt.source_url, rt.target_url, listener=listener, cancel=work.cancel).to_dict()
    # The walk-through ends like db-migrate-all: with a verification, whose report db-verify then shows.
    return {"postData": done, "verify": _verify_now(rt, work, listener)}


# --- verification as background work --------------------------------------------------------------------------


def _verify_now(rt: Runtime, work: Work, listener: Any) -> dict[str, Any]:
    from pghaul.copy.table_data import CopyCancelled
    from pghaul.engine import verify

    def stoppable(event: Any) -> None:
        listener(event)
        if work.cancel.is_set():  # verification has no cancel of its own: stop it between two tables
            raise CopyCancelled("stopped: the server shut down before verification finished",
                                "start db-verify again")

    started = time.monotonic()
    report = verify(rt.source_url, rt.target_url, listener=stoppable, cancel=work.cancel)
    return {"ok": bool(report.ok), **report.to_dict(), "seconds": round(time.monotonic() - started, 2)}


def start_verify_reply(rt: Runtime) -> StartReply:
    """POST db-verify: start comparing the databases in the background (one job at a time); db-status follows it."""
    from pghaul.engine.jobs import new_job_id

    # Comparing a database with itself proves nothing and would show green before a switch to nowhere new.
    refuse_target_is_source(rt)
    work, started = rt.work.start(VERIFY, new_job_id(), lambda w, listener: {"verify": _verify_now(rt, w, listener)})
    return StartReply(job_id=work.job_id, state="running", started=started)


def _verified(work: Work) -> bool | None:
    """Whether a finished job's verification found the databases equal (None: not yet, or none)."""
    report = (work.result or {}).get("verify")
    return report.get("ok") if isinstance(report, dict) and not work.running else None


def _job_fields(work: Work) -> dict[str, Any]:
    return {"job_id": work.job_id, "kind": work.kind, "state": WorkState.RUNNING if work.running else work.state,
            "error": work.error, "hint": work.hint, **_live(work.live).model_dump(by_alias=False)}


def _live(live: LiveProgress) -> LiveReply:
    return LiveReply.model_validate(live.snapshot())


def _post_data_job(work: Work | None) -> PostDataJobReply | None:
    return None if work is None else PostDataJobReply(**_job_fields(work), verified=_verified(work))


def _verify_job(work: Work | None) -> VerifyJobReply | None:
    return None if work is None else VerifyJobReply(**_job_fields(work), ok=_verified(work))


def _iso_seconds(value: str | None) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp() if value else 0.0


def _latest_report(rt: Runtime) -> tuple[float, dict[str, Any]] | None:
    """The newest verification report this server knows: a db-verify job, the walk-through's post-data phase, or
    the migration job recorded on the target (which survives a restart)."""
    from pghaul.engine.jobs import read_status

    found: list[tuple[float, dict[str, Any]]] = []
    for kind, origin in ((VERIFY, "verify"), (POST_DATA, "post-data")):
        work = rt.work.current(kind)
        report = (work.result or {}).get("verify") if work is not None and not work.running else None
        if work is not None and isinstance(report, dict):
            found.append((work.finished_at or 0.0, {"from": origin, "jobId": work.job_id, **report}))
    with rt.pools.target() as tgt:
        status = read_status(tgt)
    report = _verify_part(status.report) if status.state in ("done", "failed") else None
    if report:
        found.append((_iso_seconds(status.finished_at), {"from": "migration", "jobId": status.job_id, **report}))
    return max(found, key=lambda f: f[0]) if found else None


def verify_reply(rt: Runtime) -> VerifyReply:
    """GET db-verify: the latest verification, or where the running one stands. Starts nothing (POST does)."""
    work = rt.work.current(VERIFY)
    if work is not None and work.running:
        return VerifyReply(state="running", ok=None, job_id=work.job_id,
                           verify_progress=_live(work.live).verify_progress)
    latest = _latest_report(rt)
    if work is not None and work.state == WorkState.FAILED and (latest is None or latest[0] < (work.finished_at or 0)):
        return VerifyReply(state="failed", ok=None, job_id=work.job_id, error=work.error, hint=work.hint)
    if latest is None:
        return VerifyReply(state="idle", ok=None,
                           hint="no verification yet: start one with POST db-verify, then follow it in db-status")
    return VerifyReply.model_validate({"state": "done", **latest[1]})


# --- status, verify, preflight -------------------------------------------------------------------------------------


def _eta(rows_left: int, rate: float) -> float | None:
    return round(rows_left / rate, 1) if rate > 0 and rows_left > 0 else (0.0 if rows_left <= 0 else None)


def _api_name(qualified_name: str) -> str:
    schema, _, name = qualified_name.partition(".")
    return api_name(schema, name) if name else qualified_name


def _table_rows(status: JobStatus, live: LiveProgress | None) -> dict[str, TableProgressReply]:
    """Per table: the target's checkpoints, overtaken by what the running job reported since."""
    tables: dict[str, TableProgressReply] = {}
    for t in status.tables:
        done_rows = t.rows_copied + t.rows_skipped
        tables[t.table] = TableProgressReply(
            table=t.table, name=_api_name(t.table), rows_done=done_rows,
            rows_total=max(t.rows_estimated, done_rows), bytes=t.bytes, done=t.done, rate=0.0,
            eta_seconds=0.0 if t.done else None,
        )
    for name, lt in (live.tables.items() if live is not None else ()):
        row = tables.setdefault(name, TableProgressReply(
            table=name, name=_api_name(name), rows_done=0, rows_total=0, bytes=0, done=False, rate=0.0,
            eta_seconds=None,
        ))
        row.rows_done = max(row.rows_done, lt.rows_done)
        row.rows_total = max(row.rows_total, lt.rows_estimated, row.rows_done)
        row.bytes = max(row.bytes, lt.bytes_done)
        row.done = row.done or lt.finished
        row.rate = round(lt.rate, 1) if not row.done else 0.0
        row.eta_seconds = 0.0 if row.done else _eta(row.rows_total - row.rows_done, lt.rate)
    return tables


def _job_state(status: JobStatus, work: Work | None) -> tuple[dict[str, Any], list[ErrorItem]]:
    """The migration job's id, state, phase and error: the target's record, or what this process knows newer."""
    job: dict[str, Any] = {"job_id": status.job_id, "state": status.state, "phase": status.phase,
                           "error": status.error}
    errors: list[ErrorItem] = []
    if work is not None and work.running:
        # The engine may not have recorded this run yet: what this process knows is newer.
        job.update(state="running", job_id=work.job_id, phase=work.live.phase or status.phase, error=None)
    elif work is not None and work.state == "failed" and (status.job_id != work.job_id or status.state != "failed"):
        # Failed before the engine could record the job (e.g. preflight refused): only this process knows.
        job.update(state="failed", job_id=work.job_id, error=work.error)
        errors.append(ErrorItem(error=work.error, hint=work.hint))
    elif status.error:
        error, hint = recorded_error(status)
        job["error"] = error
        errors.append(ErrorItem(error=error, hint=hint))
    return job, errors


def _overall_eta(state: str, rows_left: int, rate: float) -> float | None:
    return _eta(rows_left, rate) if state == "running" else 0.0 if state == "done" else None


def status_reply(rt: Runtime) -> StatusReply:
    from pghaul.engine.jobs import read_status

    with rt.pools.target() as tgt:
        status = read_status(tgt)
    work = rt.work.current(MIGRATE)
    live = work.live if work is not None else None
    job, errors = _job_state(status, work)
    tables = _table_rows(status, live)
    rows_done = sum(t.rows_done for t in tables.values())
    rows_total = sum(t.rows_total for t in tables.values())
    # The job's rate counts finished tables too, so it does not drop to nothing between two tables.
    rate = live.overall_rate() if live is not None else 0.0
    finished = job["state"] in ("done", "failed")
    post = rt.work.current(POST_DATA)
    if post is not None and post.state == "failed" and not post.running:
        errors.append(ErrorItem(error=post.error, hint=post.hint))
    return StatusReply(
        **job, hint=status.hint, started_at=status.started_at, updated_at=status.updated_at,
        finished_at=status.finished_at,
        report=MigrationReport.model_validate(status.report) if status.report else None,
        tables=sorted(tables.values(), key=lambda t: t.table), rows_done=rows_done, rows_total=rows_total,
        bytes_done=sum(t.bytes for t in tables.values()), rate=round(rate, 1),
        eta_seconds=_overall_eta(job["state"], rows_total - rows_done, rate), errors=errors,
        verify=_verify_report(status.report) if finished else None,
        live=_live(live) if live is not None else None,
        post_data=_post_data_job(post),
        # A db-verify job: state, tables checked of total (in its verifyProgress), ok once done; GET db-verify
        # has the whole report.
        verify_job=_verify_job(rt.work.current(VERIFY)),
        follow=following.status(rt),
        **_follow_refused(work),
    )


def _follow_refused(work: Work | None) -> dict[str, Any]:
    """db-status's ``followRefused``, left out unless the latest migration of this server asked for follow and was
    refused (an unset field stays out of the reply)."""
    refusal = following.refused(work)
    return {} if refusal is None else {"follow_refused": refusal}


def _verify_report(report: dict[str, Any] | None) -> VerifyReport | None:
    part = _verify_part(report)
    return VerifyReport.model_validate(part) if part else None


# Hints recorded by the engine are worded for the command line ("run the same command again", "--exclude"),
# which means nothing in a browser: those, and missing ones, are replaced by what to do from the page. The job
# row records no error code yet (pghaul.errors.ErrorCode), so the wording is what tells them apart.
_CLI_WORDING = (RESUME_HINT, "the same command", " --")
VERIFY_HINT = "open db-verify to see each difference"
RESUME_FROM_PAGE = "start db-migrate-all again: it resumes from the last committed chunk"


def recorded_error(status: JobStatus) -> tuple[str, str]:
    """The message and the hint of the error the engine recorded on the job, as the page should show them."""
    error, hint = (status.error or "").strip(), (status.hint or "").strip()
    if hint and not any(words in hint for words in _CLI_WORDING):
        return error, hint
    # A run that copied everything but did not verify equal stored its report: what differs is in db-verify.
    report = _verify_part(status.report)
    return error, VERIFY_HINT if report is not None and report.get("ok") is False else RESUME_FROM_PAGE


def _verify_part(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if not report:
        return None
    return report.get("verify", report) if isinstance(report, dict) else None


def preflight_reply(rt: Runtime, follow: bool = False) -> PreflightReply:
    from pghaul.engine import MigrateOptions, refusal_before_writing
    from pghaul.engine.preflight import preflight_report

    source = rt.source_catalog(fresh=True)
    target = rt.target_catalog(fresh=True)
    with rt.pools.source() as src, rt.pools.target() as tgt:
        # The engine's report has the reply's fields by their Python names: read into the typed reply as is.
        report = preflight_report(src, tgt, source)
        refusal = refusal_before_writing(src, tgt, source, MigrateOptions())
    ready = readiness(source, target, report, refusal, rt.scrubber.text, api_name)
    return PreflightReply(
        source=ServerReply.model_validate(report["source"]),
        target=ServerReply.model_validate(report["target"]),
        target_is_source=report["target_is_source"],
        extensions=[ExtensionReply.model_validate(e) for e in report["extensions"]],
        target_empty=not target.tables,
        **asdict(ready),
        # Only when asked (its probe may take seconds: pghaul.http.following); pointless against the source itself.
        **({"follow": following.preflight(rt)} if follow and not report["target_is_source"] else {}),
    )
