"""The cutover's last catch-up with follow: wait until the lag is zero.

With the app's writes paused, the source's current WAL position is read once: every change the app made is
before it. Follow has caught up when the subscriber has confirmed, through the slot, that it applied and flushed
everything up to that position (the slot's ``confirmed_flush_lsn``). The source's own later WAL (vacuum, other
databases) does not matter: the subscriber confirms past it as its WAL sender reads on. Progress is reported about
twice a second; a subscription that cannot apply (disabled, its worker failing) is named instead of waited for
until the timeout.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psycopg

from pghaul.errors import PghaulError, SafetyError, check_cancelled
from pghaul.events import Listener
from pghaul.follow.events import ReplicationCatchUp
from pghaul.follow.names import FollowNames
from pghaul.follow.status import read_follow_status

DEFAULT_LAG_TIMEOUT_SECONDS = 300.0
# The slot's position is read this often (a cheap catalog read): the wait is part of the write-freeze window, and
# measured on a quiet pair the subscriber confirms within a few milliseconds of the last commit.
POLL_SECONDS = 0.1
# Progress events at most this often (and once when reached).
REPORT_SECONDS = 0.5

LAG_SQL = """
SELECT confirmed_flush_lsn::text, pg_catalog.pg_wal_lsn_diff(%s::pg_lsn, confirmed_flush_lsn)::bigint, wal_status
  FROM pg_catalog.pg_replication_slots
 WHERE slot_name = %s
"""


@dataclass(frozen=True)
class CatchUpResult:
    target_lsn: str  # the source's WAL position when the wait began: every paused write is before it
    seconds: float
    first_lag_bytes: int  # how far behind the subscriber was when writes paused


def _lag(src: psycopg.Connection, names: FollowNames, target_lsn: str) -> tuple[str | None, int]:
    row = src.execute(LAG_SQL, [target_lsn, names.slot]).fetchone()
    if row is None or row[2] == "lost":
        raise SafetyError(
            f"the replication slot {names.slot} is {'gone' if row is None else 'invalidated'} on the source: the "
            "target cannot catch up through it",
            "stop follow and finish with the sync cutover (`pghaul sync`, then the cutover without follow)")
    return row[0], max(0, int(row[1]))  # a logical slot has a confirmed position from its creation on


def _refuse_if_not_applying(src: psycopg.Connection, tgt: psycopg.Connection) -> None:
    status = read_follow_status(src, tgt)
    sub = status.subscription
    if sub is None or not sub.enabled or not sub.worker_running:
        raise PghaulError(
            "the target is not applying the source's changes: " + ("; ".join(status.problems) or "no subscription"),
            "nothing was changed: resume writes on the source, fix the subscription (or stop follow and use the "
            "sync cutover), then run the cutover again")


def wait_for_zero_lag(
    src: psycopg.Connection, tgt: psycopg.Connection, names: FollowNames, listener: Listener,
    cancel: threading.Event | None = None, timeout_seconds: float = DEFAULT_LAG_TIMEOUT_SECONDS,
) -> CatchUpResult:
    """Return once the subscriber confirmed the source's current WAL position; raise after ``timeout_seconds``."""
    started = time.monotonic()
    target_lsn = str(src.execute("SELECT pg_catalog.pg_current_wal_lsn()::text").fetchone()[0])  # type: ignore[index]
    first: int | None = None
    reported = -REPORT_SECONDS
    while True:
        confirmed, lag = _lag(src, names, target_lsn)
        first = lag if first is None else first
        waited = time.monotonic() - started
        if lag == 0 or waited - reported >= REPORT_SECONDS:
            reported = waited
            listener(ReplicationCatchUp(target_lsn, confirmed, lag, round(waited, 3), reached=lag == 0))
        if lag == 0:
            return CatchUpResult(target_lsn, waited, first)
        check_cancelled(cancel, "stopped while waiting for the replication lag to reach zero",
                        "replication keeps running: run the cutover again")
        if waited > REPORT_SECONDS:
            _refuse_if_not_applying(src, tgt)
        if waited > timeout_seconds:
            raise PghaulError(
                f"the replication lag did not reach zero within {timeout_seconds:.0f} s ({lag} bytes left)",
                "check that writes are paused on the source and the subscription applies (status); replication "
                "keeps running: run the cutover again")
        time.sleep(POLL_SECONDS)
