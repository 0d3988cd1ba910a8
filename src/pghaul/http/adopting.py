"""db-follow: follow started on a target migrated without it (pghaul.follow.follow_migrated) as background work:
a publication and a logical replication slot on the source, sync in the slot's snapshot, then the subscription.

One of the router's background jobs (pghaul.http.jobs), under db-sync's rules: one at a time per target, none
while a migration runs (here or in another process), refused at once (409) when the target follows already, in
the engine's words. Follow's preflight refuses in the job, before anything is written, with every reason
(``followRefused``). Once done, db-status's ``follow`` shows the replication as after a migration with follow.
"""

from __future__ import annotations

from typing import Any

from pghaul.http import following
from pghaul.http.jobs import JobKind, Work
from pghaul.http.migration import job_workers, refuse_target_is_source
from pghaul.http.replies import FollowJobReply, FollowStartReport, JobState, StartReply
from pghaul.http.runtime import Runtime
from pghaul.http.syncing import job_outcome, refuse_while_busy, sync_progress

FOLLOW = JobKind.FOLLOW
NO_FOLLOW_START_YET = "no follow start since this server started: start one with POST db-follow"


def refuse_following_already(rt: Runtime) -> None:
    """The engine's own first checks (reads only): the target follows already, or its migration did not finish."""
    from pghaul.events import ignore
    from pghaul.follow.adopt import FollowMigratedRun, FollowOptions

    with rt.pools.source() as src, rt.pools.target() as tgt:
        options = FollowOptions(follow_source_url=rt.settings.subscription_source_url)
        FollowMigratedRun(rt.source_url, rt.target_url, options, ignore, None).look(src, tgt)


def start_follow_reply(rt: Runtime) -> StartReply:
    """POST db-follow: start following in the background (or show the start running); GET db-follow follows it."""
    from pghaul.engine.jobs import new_job_id

    running = rt.work.current(FOLLOW)
    if running is not None and running.running:
        return StartReply(job_id=running.job_id, state=JobState.RUNNING, started=False)
    refuse_target_is_source(rt)
    refuse_while_busy(rt, FOLLOW)
    refuse_following_already(rt)
    work, started = rt.work.start(FOLLOW, new_job_id(), lambda w, listener: _run_follow(rt, w, listener))
    return StartReply(job_id=work.job_id, state=JobState.RUNNING, started=started)


def _run_follow(rt: Runtime, work: Work, listener: Any) -> dict[str, Any]:
    from pghaul.follow import FollowNotPossible
    from pghaul.follow.adopt import FollowOptions, follow_migrated

    options = FollowOptions(workers=job_workers(rt.settings.pool_size),
                            follow_source_url=rt.settings.subscription_source_url)
    try:
        return follow_migrated(rt.source_url, rt.target_url, options, listener, work.cancel).to_dict()
    except FollowNotPossible as exc:
        work.follow_refused = exc.preflight.to_dict()  # every reason, for GET db-follow to list
        raise


def follow_reply(rt: Runtime) -> FollowJobReply:
    """GET db-follow: the latest follow start of this server. Starts nothing (POST does)."""
    work = rt.work.current(FOLLOW)
    reply = FollowJobReply(**job_outcome(work))
    if work is None:
        reply.hint = NO_FOLLOW_START_YET
    elif reply.state in (JobState.RUNNING, JobState.FAILED):
        reply.progress = sync_progress(work.live)
        refusal = following.refused(work)
        if refusal is not None:
            reply.follow_refused = refusal
    elif work.result is not None:
        reply.report = FollowStartReport.model_validate(work.result)
    return rt.scrubber.model(reply)
