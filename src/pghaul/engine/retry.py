"""A run started again when a server dropped its connections: what counts as transient, how long to wait, what
the progress says.

Retrying a whole run is safe because a run is resumable and idempotent: every chunk commits with its
checkpoint, every DDL step in a transaction of its own, sequences are set to the source's positions, and a rerun
skips what is already there. So the retry wraps the run, not each statement: nothing in the stages has to know.

Only failures that say "the connection went away" are retried: a backend ended (``pg_terminate_backend``, an
admin shutdown, a server crash or restart), the link cut, a server still starting, a deadlock or serialization
failure — told by the driver's error and its SQLSTATE, by the words of a stage that folded it into its own message,
or by a server whose start time says it restarted during the run. A refusal, bad input, a difference found by
verification, a cancel, a full disk or a timeout the owner set are never retried: they would fail the same way
again, or someone asked for them. The number of attempts is bounded; the last failure is then raised as one clear
error. Before each new run the target's migration lock must have been let go by the run before (its backends end
a moment after their sessions close).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from pghaul.connect import connect_source, connect_target
from pghaul.engine import jobs
from pghaul.engine.options import MigrateOptions, MigrationResult
from pghaul.engine.run import migrate as migrate_once
from pghaul.engine.run import serialized
from pghaul.errors import RESUME_HINT, Cancelled, ConnectionFailed, PghaulError
from pghaul.events import Event, Listener, Retrying, ignore
from pghaul.urls import scrub

if TYPE_CHECKING:  # imported where used: pghaul.sync and pghaul.verify import pghaul.copy, which imports the engine
    from pghaul.sync import SyncOptions, SyncReport
    from pghaul.verify import VerifyOptions, VerifyReport

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` runs in all; before run n+1 a pause drawn between half and all of
    ``first_wait * 2**(n-1)``, capped at ``max_wait``. The jitter keeps two runs cut by the same restart from
    knocking at the same moment. The defaults wait about a minute in all: a managed server's restart or failover."""

    attempts: int = 6
    first_wait: float = 1.0
    max_wait: float = 30.0

    def wait(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.max_wait, self.first_wait * 2 ** (attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)

# SQLSTATEs that say the session is gone or the server is not there for a moment: class 08 (connection exception),
# admin_shutdown, crash_shutdown, cannot_connect_now (starting up, shutting down, in recovery), and the two a
# transaction may simply be retried after.
TRANSIENT_CLASSES = ("08",)
TRANSIENT_STATES = frozenset({"57P01", "57P02", "57P03", "40001", "40P01"})

# What a comparison that lost its connection writes in the verification report (verify records read failures
# there instead of raising), and pg_dump or the rehearsal in their errors: libpq's and the server's words, in
# English (a server with lc_messages in another language says them otherwise; such a run is reported, not retried).
LOST_CONNECTION_WORDS = (
    "terminating connection",
    "server closed the connection",
    "connection is closed",
    "connection is lost",
    "consuming input failed",
    "could not receive data from server",
    "could not send data to server",
    "no connection to the server",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The error and those it was raised from or while handling (a DDL step wraps the driver's error)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def transient_reason(exc: BaseException, connected_before: bool) -> str | None:
    """Why ``exc`` is worth another run (what it says, in pghaul's words when it has them), or None when it is not.
    ``connected_before``: the servers were reached earlier, so one that cannot be connected to now is restarting,
    not misnamed."""
    if not isinstance(exc, Exception):
        return None  # KeyboardInterrupt, SystemExit: someone is stopping pghaul
    for cause in _chain(exc):
        transient = _transient(cause, connected_before)
        if transient is False:
            return None
        if transient:
            return exc.message if isinstance(exc, PghaulError) else _first_line(cause)
    return None


def _transient(exc: BaseException, connected_before: bool) -> bool | None:
    """True or False for an error that decides (a lost connection, a refusal), None for one that only wraps."""
    if isinstance(exc, Cancelled):
        return False
    if isinstance(exc, ConnectionFailed):
        return connected_before
    if isinstance(exc, PghaulError) and exc.__cause__ is None and _lost_connection(exc.message):
        # A stage that put the driver's error into its own words, with no error to follow: pg_dump's failure, the
        # rehearsal's list of steps the target "refused" because its session had ended.
        return True
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:
            # Raised by the driver itself, not the server: on a session that worked, the link is gone.
            return isinstance(exc, psycopg.OperationalError)
        return state.startswith(TRANSIENT_CLASSES) or state in TRANSIENT_STATES
    return None


def interrupted_comparison(report: VerifyReport | None) -> str | None:
    """The difference of a verification that is a comparison cut by a lost connection, if any: the rows may well
    be equal, and a run again compares them again (verification only reads)."""
    if report is None or report.ok:
        return None
    return next((line for line in report.differences() if _lost_connection(line)), None)


def _lost_connection(text: str) -> bool:
    lowered = text.lower()
    return any(words in lowered for words in LOST_CONNECTION_WORDS)


class ConnectionLost(ConnectionFailed):
    """The servers kept dropping the run's connections, more times than the retries allow."""


def _secrets(*urls: str | None) -> list[str]:
    """The URLs and their passwords, to scrub from a reason (a key=value DSN carries its password bare)."""
    found: list[str] = []
    for url in urls:
        if not url:
            continue
        found.append(url)
        try:
            password = conninfo_to_dict(url).get("password")
        except psycopg.Error:
            continue
        if password:
            found.append(str(password))
    return found


class _Watched:
    """The listener, noting whether a run got as far as its first event (both servers were connected)."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.connected = False

    def __call__(self, event: Event) -> None:
        self.connected = True
        self.listener(event)


def migrate(
    source_url: str | None,
    target_url: str | None,
    options: MigrateOptions = MigrateOptions(),
    listener: Listener = ignore,
    cancel: threading.Event | None = None,
    *,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> MigrationResult:
    """``pghaul.engine.run.migrate``, run again from its checkpoints after a lost connection, at most
    ``retry.attempts`` times, each pause announced with a ``Retrying`` event. A run with follow is not retried:
    its replication slot's start has its own rerun rules, which a person should see."""
    # One job for all the runs: `pghaul status` and db-status follow it from run to run.
    options = options.for_job(options.job_id or jobs.new_job_id())
    return run_retrying(
        lambda watched: migrate_once(source_url, target_url, options, watched, cancel), source_url, target_url,
        listener, cancel, NO_RETRY if options.follow else retry,
        interrupted=lambda result: interrupted_comparison(result.verify_report),
        job_id=options.job_id,
    )


def sync(
    source_url: str | None,
    target_url: str | None,
    options: SyncOptions | None = None,
    listener: Listener = ignore,
    cancel: threading.Event | None = None,
    *,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> SyncReport:
    """``pghaul.sync.sync``, run again after a lost connection: each range it committed stays, and a sync run
    again converges on the source as it is then."""
    from pghaul.sync import SyncOptions
    from pghaul.sync import sync as sync_once

    chosen = options or SyncOptions()
    return run_retrying(lambda watched: sync_once(source_url, target_url, chosen, watched, cancel),
                        source_url, target_url, listener, cancel, retry)


def verify(
    source_url: str,
    target_url: str,
    options: VerifyOptions | None = None,
    listener: Listener = ignore,
    *,
    retry: RetryPolicy = DEFAULT_RETRY,
    cancel: threading.Event | None = None,
) -> VerifyReport:
    """``pghaul.verify.verify``, compared again when a comparison lost its connection: verification only reads,
    and holds no lock a rerun would wait for. ``cancel`` ends a pause between two runs."""
    from pghaul.verify import VerifyOptions
    from pghaul.verify import verify as verify_once

    chosen = options or VerifyOptions()
    return run_retrying(
        lambda watched: verify_once(source_url, target_url, chosen, watched), source_url, target_url, listener,
        cancel, retry, interrupted=interrupted_comparison, locks=False,
    )


def run_retrying(
    once: Callable[[Listener], T],
    source_url: str | None,
    target_url: str | None,
    listener: Listener,
    cancel: threading.Event | None,
    policy: RetryPolicy,
    *,
    interrupted: Callable[[T], str | None] = lambda _: None,
    locks: bool = True,
    job_id: str | None = None,
) -> T:
    """``once`` (given the listener), run again after a failure that is a lost connection, or a result that
    ``interrupted`` says was cut by one, at most ``policy.attempts`` times. ``locks``: ``once`` takes the
    target's migration lock, which the retry holds between two runs (``_held_between_runs``); ``job_id``: the
    job on the target the runs record, shown running during the pause."""
    watched = _Watched(serialized(listener))
    secrets = _secrets(source_url, target_url)
    rng = random.Random()
    attempt = 1
    while True:
        started = time.monotonic()
        try:
            result = once(watched)
        except Exception as exc:
            if policy.attempts == 1:
                raise
            reason = transient_reason(exc, watched.connected) or _restarted_under(exc, watched.connected, started,
                                                                                  source_url, target_url)
            if reason is None:
                raise
            if attempt >= policy.attempts:
                raise _gave_up(attempt, scrub(reason, *secrets)) from exc
        else:
            reason = interrupted(result)
            if reason is None or attempt >= policy.attempts:
                return result
        retrying = _retrying(policy, attempt, scrub(reason, *secrets), rng)
        watched(retrying)
        resume_at = time.monotonic() + retrying.wait_seconds
        with _held_between_runs(target_url, cancel, job_id, retrying) if locks else contextlib.nullcontext():
            _wait_until(resume_at, cancel)
        attempt += 1


def _restarted_under(exc: Exception, connected_before: bool, started: float, source_url: str | None,
                     target_url: str | None) -> str | None:
    """A failure that came while a server restarted is the restart's, whatever words it came in (pg_dump says only
    which query it was running): the server's own start time tells, on its own clock. None for a cancel, or when
    the run never reached the servers."""
    if not connected_before or any(isinstance(cause, Cancelled) for cause in _chain(exc)):
        return None
    seconds = time.monotonic() - started + 1.0  # the probe's own moment, and a margin
    for role, url, connect in (("target", target_url, connect_target), ("source", source_url, connect_source)):
        try:
            with connect(url) as conn:
                row = conn.execute("SELECT pg_catalog.pg_postmaster_start_time() > pg_catalog.now()"
                                   " - pg_catalog.make_interval(secs => %s)", [seconds]).fetchone()
        except (PghaulError, psycopg.Error):
            row = (True,)  # not answering right after it answered: going down or coming up
        if row and row[0]:
            said = exc.message if isinstance(exc, PghaulError) else _first_line(exc)
            return f"{said} (the {role} server restarted during the run)"
    return None


# How long a retry waits for the migration lock the run before it held to be let go: its session was closed, but
# its backend ends (and releases the lock) a moment later, longer on a loaded server. Another pghaul really
# migrating into the target holds it longer still: the run then is refused as it would be without a retry.
LOCK_RELEASE_SECONDS = 30.0


@contextlib.contextmanager
def _held_between_runs(target_url: str | None, cancel: threading.Event | None, job_id: str | None,
                       retrying: Retrying) -> Iterator[None]:
    """The pause between two runs with the target's migration lock held, once the run before let it go (at most
    ``LOCK_RELEASE_SECONDS``): no other pghaul starts in the gap, and the job shows as running with the retry's
    words rather than failed. The lock is let go for the next run; a stop during the pause ends the job as
    stopped. A target that cannot be reached is left to the next run to find."""
    try:
        tgt = connect_target(target_url)
    except PghaulError:
        yield
        return
    with tgt:
        held = _take_lock(tgt, cancel)
        if held and job_id:
            _quietly(jobs.note_retry, tgt, job_id, retrying.message)
        try:
            yield
        except PghaulError as exc:
            if held and job_id:
                _quietly(jobs.finish_job, tgt, job_id, "failed", exc.message, None, exc.hint)
            raise
        finally:
            if held:
                _quietly(jobs.unlock_migration, tgt)


def _take_lock(tgt: psycopg.Connection, cancel: threading.Event | None) -> bool:
    """True once the lock is this session's; False if another session keeps it or the target went away again."""
    deadline = time.monotonic() + LOCK_RELEASE_SECONDS
    while True:
        taken = _quietly(jobs.try_lock_migration, tgt)
        if taken is not False:
            return bool(taken)
        if time.monotonic() >= deadline:
            return False
        if (cancel or threading.Event()).wait(0.1):
            raise Cancelled("stopped on request while waiting to retry", RESUME_HINT)


def _quietly(action: Callable[..., R], tgt: psycopg.Connection, *args: object) -> R | None:
    """``action`` on the target's session; None if the target went away again (the next run will find it)."""
    try:
        return action(tgt, *args)
    except psycopg.Error:
        return None


def _gave_up(attempts: int, reason: str) -> ConnectionLost:
    return ConnectionLost(
        f"the connection to a server was lost {attempts} times in a row, the last time: {reason}",
        "every committed chunk stays: once both servers are reachable again, " + RESUME_HINT,
    )


def _retrying(policy: RetryPolicy, attempt: int, reason: str, rng: random.Random) -> Retrying:
    wait = policy.wait(attempt, rng)
    return Retrying(
        f"lost a connection ({reason}): run {attempt + 1} of at most {policy.attempts} starts in {wait:.1f} s, "
        "from the last committed chunk", "warning", attempt=attempt, attempts=policy.attempts,
        wait_seconds=round(wait, 2), reason=reason,
    )


def _wait_until(moment: float, cancel: threading.Event | None) -> None:
    if (cancel or threading.Event()).wait(max(0.0, moment - time.monotonic())):
        raise Cancelled("stopped on request while waiting to retry", RESUME_HINT)
