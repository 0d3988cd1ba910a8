"""Follow through the admin API: whether the target can follow the source (``db-preflight?follow=true``), where
follow stands (``db-status``'s ``follow``), the refusals that keep replication and pghaul's own writes apart, and
``db-stop-follow``. The engine (``pghaul.follow``) checks, starts, watches and takes follow down; this module asks
it and reads its answers into the replies.

The follow preflight runs inside the request, only when asked for (``?follow=true``), not as a background job: it
only reads (its probe is a ``CREATE SUBSCRIPTION`` the target's server rolls back), so a GET that answers is the
plain contract for scripts and the page, and it is bounded — the probe gives up connecting after
``PROBE_CONNECT_TIMEOUT_SECONDS`` (10 s) and any statement after 30 s; a source that refuses at once answers in
milliseconds, a reachable one in well under a second. Left out of the ordinary preflight, the checks every
migration needs never wait for it.
"""

from __future__ import annotations

import logging

import psycopg

from pghaul.errors import PghaulError, SafetyError
from pghaul.follow.status import FollowState, earlier_follow_refusal
from pghaul.http.errors import ApiError
from pghaul.http.jobs import STOP_FOLLOW_BESIDE_JOB_HINT, JobConflict, JobKind, ShortTask, Work
from pghaul.http.replies import (
    FollowPreflightReply,
    FollowRefusal,
    FollowStatusReply,
    StopFollowOutcome,
    StopFollowReply,
)
from pghaul.http.runtime import Runtime

log = logging.getLogger("pghaul.http")

STOP_OR_FINISH = ('finish with POST db-cutover {"step": "finish"} once the app\'s writes are paused (it waits until '
                  "the replication lag is zero), or give follow up with POST db-stop-follow first")
RESUME_OR_STOP = ('resume the migration with follow (POST db-migrate-all with {"follow": true}), or give follow up '
                  "with POST db-stop-follow first")


def preflight(rt: Runtime) -> FollowPreflightReply:
    """Every reason the target cannot follow the source, and the caveats (pghaul.follow.follow_preflight, for the
    tables db-migrate-all copies). Writes nothing to either server."""
    from pghaul.engine import MigrateOptions
    from pghaul.follow import follow_preflight

    found = follow_preflight(rt.source_url, rt.target_url,
                             MigrateOptions(follow=True, follow_source_url=rt.settings.subscription_source_url))
    return rt.scrubber.model(FollowPreflightReply.model_validate(found.to_dict()))


def target_state(rt: Runtime) -> FollowState:
    """Where follow stands as the target alone says it (a few catalog reads, no source): NONE when nothing of
    follow is there — no subscription and no record of a start."""
    from pghaul.follow import read_follow_status

    with rt.pools.target() as tgt:
        return read_follow_status(None, tgt).state


def status(rt: Runtime) -> FollowStatusReply | None:
    """db-status's ``follow``: None when the target follows nothing; else the whole status, the source's side (the
    slot, the lag in bytes) included when the source answers."""
    from pghaul.follow import read_follow_status

    with rt.pools.target() as tgt:
        local = read_follow_status(None, tgt)
    if local.state is FollowState.NONE:
        return None
    problems = []
    try:
        with rt.pools.source() as src, rt.pools.target() as tgt:
            found = read_follow_status(src, tgt)
    except (psycopg.Error, PghaulError, ApiError) as exc:
        log.info("could not read follow's status on the source: %s", rt.scrubber.text(str(exc)))
        found = local
        problems.append("the source could not be asked, so the replication slot and the lag in bytes are unknown")
    reply = FollowStatusReply.model_validate(found.to_dict())
    reply.problems.extend(problems)
    return reply


def refused(work: Work | None) -> FollowRefusal | None:
    """Why this server's latest migration could not follow, while that failure is what db-status shows."""
    if work is None or work.running or work.follow_refused is None:
        return None
    return FollowRefusal(preflight=FollowPreflightReply.model_validate(work.follow_refused))


def refuse_while_following(rt: Runtime, what: str) -> None:
    """A sync, or the cutover's catch-up (sync rounds), writes rows that replication writes too: refused at once
    (409) while the target follows. The engine's sync refuses as well, but later, in the job, in the command
    line's words."""
    state = target_state(rt)
    if state is not FollowState.NONE:
        raise SafetyError(
            f"the target follows the source through logical replication (state: {state}), which {what} would "
            "write against", RESUME_OR_STOP if state is FollowState.COPYING else STOP_OR_FINISH)


def refuse_migration_without_follow(rt: Runtime) -> None:
    """A migration without follow on a target an earlier run with follow started: it would copy on and leave that
    run's replication slot keeping the source's WAL (its disk fills) with nothing to drop it."""
    refusal = earlier_follow_refusal(target_state(rt))
    if refusal is not None:
        raise SafetyError(refusal[0], RESUME_OR_STOP)


def stop_reply(rt: Runtime) -> StopFollowReply:
    """POST db-stop-follow: the subscription, the slot and the publication dropped (pghaul.follow.stop_follow); the
    target keeps its rows as replication left them. Refused beside a migration or a finish of this server, and
    beside a migration another process runs (it may be creating them)."""
    from pghaul.engine.jobs import read_status
    from pghaul.follow import stop_follow

    with rt.work.short_task(ShortTask.STOP_FOLLOW, STOP_FOLLOW_BESIDE_JOB_HINT):
        with rt.pools.target() as tgt:
            running = read_status(tgt).state == "running"
        if running:
            raise JobConflict(JobKind.MIGRATE, "a pghaul migration into this target is running",
                              STOP_FOLLOW_BESIDE_JOB_HINT[JobKind.MIGRATE])
        was = target_state(rt)
        report = stop_follow(rt.source_url, rt.target_url)
    dropped = list(report.dropped)
    if not dropped and was is FollowState.NONE:
        return StopFollowReply(outcome=StopFollowOutcome.NOT_FOLLOWING, name=report.name, dropped=[],
                               message="the target does not follow the source: there was nothing to stop")
    what = f"dropped {', '.join(str(d) for d in dropped)} {report.name}" if dropped else "forgot its record"
    message = (f"stopped following: {what}; the target keeps its rows as replication left them: bring it up to "
               "date with db-sync, then the cutover's catch-up and finish")
    return rt.scrubber.model(StopFollowReply(outcome=StopFollowOutcome.STOPPED, name=report.name, dropped=dropped,
                                             message=message))
