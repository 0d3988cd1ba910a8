"""db-cutover and db-unfreeze: the guided cutover (pghaul.engine.cutover) as background steps.

1. ``{"step": "catch-up"}``: sync rounds while the app still writes, each saying how much was left. Not on a
   target that follows the source: replication carries every change as it happens (db-status shows the lag).
2. The owner pauses the app's writes, then sends ``{"step": "finish", "freezeSource": …}``: the moment that request
   arrives is "writes paused", from which the engine measures the write-freeze window. With ``freezeSource`` the
   engine first makes the source read-only for new sessions and ends its open ones; ``db-unfreeze`` undoes it.
   The target decides how the finish brings it level (``CutoverMethod``): one that follows the source waits until
   the replication lag is zero, sets sequences and large objects, verifies and takes follow down
   (``pghaul.follow.finish_follow``); any other gets a last sync and a full verify (``pghaul.engine.cutover``).
   The owner's act is the same either way, and the other method could only fail: a sync would race replication,
   and there is no lag to wait for without it. The start reply and the report say which ran.
3. GET db-cutover: where the cutover stands, the catch-up's rounds, the finish's report (verified or not, the
   window, the switch and the way back; with follow what was torn down), the lag while a follow finish waits for
   zero, and whether the source is frozen now.

Each step is one of the router's background jobs (one at a time per target, none while a migration runs). An
unfreeze is a short request of its own, refused while a finish runs: that finish froze the source so that nothing
writes under its last sync and verify.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from pghaul.errors import PghaulError, UsageError
from pghaul.follow.status import FollowState
from pghaul.http import following
from pghaul.http.errors import ApiError
from pghaul.http.jobs import UNFREEZE_BESIDE_FINISH_HINT, JobKind, ShortTask, Work
from pghaul.http.migration import refuse_target_is_source
from pghaul.http.replies import (
    CatchUpReply,
    CatchUpRoundReply,
    CutoverMethod,
    CutoverReply,
    CutoverReport,
    CutoverRequest,
    CutoverStage,
    CutoverStartReply,
    CutoverStep,
    FollowCutoverReport,
    JobState,
    LiveReply,
    UnfreezeReply,
)
from pghaul.http.runtime import Runtime
from pghaul.http.syncing import job_outcome, refuse_while_busy, sync_options, sync_progress

log = logging.getLogger("pghaul.http")

STEP_JOBS = {CutoverStep.CATCH_UP: JobKind.CATCH_UP, CutoverStep.FINISH: JobKind.CUTOVER}
# Where the cutover stands after its latest step, by that step and how its job stands.
STAGES = {
    (CutoverStep.CATCH_UP, JobState.RUNNING): CutoverStage.CATCHING_UP,
    (CutoverStep.CATCH_UP, JobState.DONE): CutoverStage.CAUGHT_UP,
    (CutoverStep.FINISH, JobState.RUNNING): CutoverStage.FINISHING,
    (CutoverStep.FINISH, JobState.DONE): CutoverStage.FINISHED,
}


def start_cutover_reply(rt: Runtime, request: CutoverRequest, writes_paused_at: float) -> CutoverStartReply:
    """POST db-cutover: start the step in the background (or show it running); GET db-cutover follows it.

    ``writes_paused_at`` is the ``time.monotonic()`` at which the request arrived: for a finish, the moment the
    owner says writes are paused.
    """
    from pghaul.engine.jobs import new_job_id

    _refuse_finish_options_with_catch_up(request)
    kind = STEP_JOBS[request.step]
    running = rt.work.current(kind)
    if running is not None and running.running:
        return CutoverStartReply(job_id=running.job_id, state=JobState.RUNNING, started=False, step=request.step)
    refuse_target_is_source(rt)
    refuse_while_busy(rt, kind)
    if request.step is CutoverStep.CATCH_UP:
        following.refuse_while_following(rt, "a catch-up (sync rounds)")
        work, started = rt.work.start(kind, new_job_id(), lambda w, listener: _catch_up(rt, w, listener))
        return CutoverStartReply(job_id=work.job_id, state=JobState.RUNNING, started=started, step=request.step)
    method = finish_method(rt)
    if method is CutoverMethod.SYNC and not request.verify_rows:
        raise UsageError("verifyRows: false goes with a target that follows the source only",
                         "the finish of a target that does not follow verifies every row: leave verifyRows out")
    finish_with = _finish_follow if method is CutoverMethod.FOLLOW else _finish
    work, started = rt.work.start(
        kind, new_job_id(), lambda w, listener: finish_with(rt, w, listener, request, writes_paused_at))
    return CutoverStartReply(job_id=work.job_id, state=JobState.RUNNING, started=started, step=request.step,
                             method=method)


def _refuse_finish_options_with_catch_up(request: CutoverRequest) -> None:
    if request.step is CutoverStep.FINISH:
        return
    if request.freeze_source:
        raise UsageError("freezeSource goes with the finish step only",
                         'catch up first; once the app\'s writes are paused send {"step": "finish", '
                         '"freezeSource": true}')
    if not request.verify_rows:
        raise UsageError("verifyRows goes with the finish step only",
                         'send it with {"step": "finish"} once the app\'s writes are paused')


def finish_method(rt: Runtime) -> CutoverMethod:
    """What the target says: anything of follow there (a subscription, or a start recorded) → the follow finish,
    whose checks name what is missing when it cannot wait for zero lag; nothing → the sync finish."""
    return CutoverMethod.SYNC if following.target_state(rt) is FollowState.NONE else CutoverMethod.FOLLOW


def _catch_up(rt: Runtime, work: Work, listener: Any) -> dict[str, Any]:
    from pghaul.engine.cutover import catch_up

    report = catch_up(rt.source_url, rt.target_url, sync_options(rt, work), listener, work.cancel)
    return {"catchUp": report.to_dict()}


def _finish(rt: Runtime, work: Work, listener: Any, request: CutoverRequest,
            writes_paused_at: float) -> dict[str, Any]:
    from pghaul.engine.cutover import finish

    report = finish(rt.source_url, rt.target_url, sync_options(rt, work), freeze=request.freeze_source,
                    writes_paused_at=writes_paused_at, listener=listener, cancel=work.cancel)
    return {"method": CutoverMethod.SYNC, "cutover": report.to_dict()}


def _finish_follow(rt: Runtime, work: Work, listener: Any, request: CutoverRequest,
                   writes_paused_at: float) -> dict[str, Any]:
    from pghaul.follow import FollowCutoverOptions, finish_follow

    options = FollowCutoverOptions(freeze_source=request.freeze_source, verify_rows=request.verify_rows)
    report = finish_follow(rt.source_url, rt.target_url, options, writes_paused_at=writes_paused_at,
                           listener=listener, cancel=work.cancel)
    return {"method": CutoverMethod.FOLLOW, "cutover": report.to_dict()}


def _report(result: dict[str, Any]) -> CutoverReport | FollowCutoverReport:
    if result.get("method") == CutoverMethod.FOLLOW:
        return FollowCutoverReport.model_validate(result["cutover"])
    return CutoverReport.model_validate(result["cutover"])


def _latest(rt: Runtime) -> tuple[CutoverStep, Work] | None:
    """The step started last, and its job."""
    works = [(step, work) for step, kind in STEP_JOBS.items() if (work := rt.work.current(kind)) is not None]
    return max(works, key=lambda sw: sw[1].live.started) if works else None


def _catch_up_of(work: Work) -> CatchUpReply:
    """A catch-up's rounds: from its report once done, else those it has finished so far."""
    if not work.running and work.result is not None:
        return CatchUpReply.model_validate(work.result["catchUp"])
    _, _, rounds = work.live.sync_progress()
    return CatchUpReply(rounds=[CatchUpRoundReply.model_validate(r.to_dict()) for r in rounds],
                        left=rounds[-1].changes if rounds else 0)


def source_frozen(rt: Runtime) -> bool | None:
    """Whether the source is frozen now (read on a read-only session); None when it cannot be asked.

    The cutover's own state lives in this process and is answered anyway: a source that is down, or a pool
    whose sessions the freeze has just ended, must not hide it.
    """
    from pghaul.engine.freeze import freeze_status

    try:
        with rt.pools.source() as src:
            return freeze_status(src)
    except (psycopg.Error, PghaulError, ApiError) as exc:
        log.info("could not read whether the source is frozen: %s", rt.scrubber.text(str(exc)))
        return None


def cutover_reply(rt: Runtime) -> CutoverReply:
    """GET db-cutover: the stage, the latest step's job, the catch-up's rounds, the finish's report and the
    source's freeze. Starts nothing (POST does)."""
    latest = _latest(rt)
    step, work = latest if latest is not None else (None, None)
    outcome = job_outcome(work)
    stage = CutoverStage.IDLE if step is None else STAGES.get((step, outcome["state"]), CutoverStage.FAILED)
    reply = CutoverReply(**outcome, stage=stage, step=step, frozen=source_frozen(rt))
    catching = rt.work.current(JobKind.CATCH_UP)
    if catching is not None:
        reply.catch_up = _catch_up_of(catching)
    if work is not None and work.running:
        reply.progress = sync_progress(work.live)
        lag = LiveReply.model_validate(work.live.snapshot()).replication_lag
        if lag is not None:
            reply.lag = lag
    finished = rt.work.current(JobKind.CUTOVER)
    if finished is not None and not finished.running and finished.result is not None:
        reply.report = _report(finished.result)
    return rt.scrubber.model(reply)


def unfreeze_reply(rt: Runtime) -> UnfreezeReply:
    """POST db-unfreeze: the source writable again for new sessions (pghaul.engine.freeze.unfreeze_source)."""
    from pghaul.engine.freeze import unfreeze_source

    with rt.work.short_task(ShortTask.UNFREEZE, {JobKind.CUTOVER: UNFREEZE_BESIDE_FINISH_HINT}):
        report = unfreeze_source(rt.source_url)
    # Both outcomes ("unfrozen", "not frozen") leave the database without the read-only setting a freeze adds;
    # anything else raised.
    return rt.scrubber.model(UnfreezeReply(outcome=report.outcome, message=report.describe(), frozen=False))
