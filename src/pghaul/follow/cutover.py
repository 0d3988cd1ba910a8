"""The guided cutover with follow: the steps of ``engine/cutover.py``'s ``finish``, with "wait until the lag is
zero" as the final catch-up instead of a last sync.

1. The owner pauses the app's writes; ``finish_follow`` starts there (optionally freezing the source first, as
   ``finish`` does: ``engine/freeze.py``; the freeze leaves WAL senders alone, so replication goes on).
2. Wait until the subscriber has applied everything up to the source's current WAL position
   (``follow/catch_up.py``), with progress events and a timeout.
3. What logical replication does not carry: every sequence moved forward to the source's position (sync's own
   ``advance_sequences``), and, for a whole-database run, the large objects as sync brings them over.
4. A full verify of the quiet source against the target.
5. Verified: the subscription, the slot and the publication are dropped (``follow/teardown.py``), and the report
   says what to switch. Not verified: nothing is dropped — replication keeps the target following while the owner
   resumes writes on the old database and looks at the differences — and the report says so, with the slot that
   keeps the source's WAL meanwhile.

The write-freeze window is measured from "writes paused" to "ready to switch" (verified and torn down).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from pghaul.connect import connect_source, connect_target
from pghaul.copy.sequences import read_positions, selected_sequences
from pghaul.copy.snapshot import SnapshotHolder
from pghaul.engine.cutover import UNFREEZE, SwitchInstructions, switch_instructions
from pghaul.engine.freeze import FreezeReport, freeze_source
from pghaul.engine.preflight import check_target_is_not_source
from pghaul.engine.retry import verify
from pghaul.errors import PghaulError, SafetyError
from pghaul.events import Listener, Notice, PhaseFinished, PhaseStarted, ignore
from pghaul.follow import state
from pghaul.follow.catch_up import DEFAULT_LAG_TIMEOUT_SECONDS, CatchUpResult, wait_for_zero_lag
from pghaul.follow.names import FollowNames, follow_names
from pghaul.follow.source_objects import publication_tables
from pghaul.follow.start import slot_left_behind
from pghaul.follow.subscription import subscription_info
from pghaul.follow.teardown import TeardownReport, drop_follow_objects
from pghaul.inspect import inspect_catalog
from pghaul.kinds import Phase
from pghaul.sync.large_objects import sync_large_objects
from pghaul.sync.report import LargeObjectSync, SequenceSync
from pghaul.sync.sequences import advance_sequences
from pghaul.urls import describe_url
from pghaul.verify import VerifyOptions, VerifyReport
from pghaul.verify.session import pin_output_settings


@dataclass(frozen=True)
class FollowCutoverOptions:
    lag_timeout_seconds: float = DEFAULT_LAG_TIMEOUT_SECONDS
    freeze_source: bool = False  # engine/freeze.py: read-only for new sessions, the app's open ones ended
    # Compare every row (counts and checksums per key range), sequence and large object inside the window, as the
    # sync cutover does: the window then grows with the database. False: the schema only (sequences and large
    # objects were just set from the source, their reports say how) — the rows were verified by migrate against
    # the copy's snapshot, and replication applied every change since in commit order (the lag reached zero,
    # with the subscription applying): the window no longer grows with the database's size.
    verify_rows: bool = True


@dataclass
class FollowCutoverReport:
    name: str = ""
    catch_up: CatchUpResult | None = None
    sequences: list[SequenceSync] = field(default_factory=list)
    large_objects: LargeObjectSync | None = None
    verify: VerifyReport | None = None
    freeze: FreezeReport | None = None
    teardown: TeardownReport | None = None
    write_freeze_seconds: float = 0.0
    instructions: SwitchInstructions | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verify is not None and self.verify.ok

    def to_dict(self) -> dict[str, Any]:
        c = self.catch_up
        return {
            "ok": self.ok, "name": self.name, "writeFreezeSeconds": round(self.write_freeze_seconds, 3),
            "catchUp": None if c is None else {"targetLsn": c.target_lsn, "seconds": round(c.seconds, 3),
                                               "lagBytesWhenPaused": c.first_lag_bytes},
            "sequences": [{"sequence": s.sequence, "sourceValue": s.source_value, "targetValue": s.target_value,
                           "advanced": s.advanced} for s in self.sequences],
            "largeObjects": None if self.large_objects is None else vars(self.large_objects),
            "verify": None if self.verify is None else self.verify.to_dict(),
            "freeze": None if self.freeze is None else self.freeze.describe(),
            "teardown": None if self.teardown is None else self.teardown.to_dict(),
            "instructions": None if self.instructions is None else {
                "variable": self.instructions.variable, "newValueFrom": self.instructions.new_value_from,
                "steps": list(self.instructions.steps), "rollback": list(self.instructions.rollback)},
            "notices": list(self.notices),
        }


def _following(src: psycopg.Connection, tgt: psycopg.Connection) -> tuple[FollowNames, state.FollowRecord]:
    check_target_is_not_source(src, tgt)
    names = follow_names(tgt)
    record = state.load(tgt, names.name)
    if record is None or not record.copied or subscription_info(tgt, names.subscription) is None:
        raise SafetyError(
            "this target does not follow the source (no subscription of a complete copy): there is no replication "
            "lag to wait for",
            "finish with the sync cutover instead (`pghaul cutover` without --follow), or run migrate with follow to "
            "the end first")
    return names, record


def _sequences(src: psycopg.Connection, tgt: psycopg.Connection, names: FollowNames) -> list[SequenceSync]:
    """Every sequence of the followed tables (and every standalone one), moved forward to the source's."""
    catalog = inspect_catalog(src, with_dump=False)
    tables = publication_tables(src, names.publication) or set()
    return advance_sequences(tgt, read_positions(src, selected_sequences(catalog, tables)), catalog.sequences)


def _large_objects(tgt: psycopg.Connection, source_url: str, target_url: str, listener: Listener,
                   cancel: threading.Event | None) -> LargeObjectSync:
    holder = SnapshotHolder(source_url)
    try:
        pin_output_settings(holder.conn)
        return sync_large_objects(holder.conn, tgt, source_url, target_url, holder.snapshot_id, listener, cancel,
                                  None)
    finally:
        holder.close()


def _catch_up(report: FollowCutoverReport, source_url: str, target_url: str, options: FollowCutoverOptions,
              listener: Listener, cancel: threading.Event | None) -> state.FollowRecord:
    """Zero lag, sequences and large objects: the target holds everything the paused source does."""
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        names, record = _following(src, tgt)
        report.catch_up = wait_for_zero_lag(src, tgt, names, listener, cancel, options.lag_timeout_seconds)
        report.sequences = _sequences(src, tgt, names)
        if record.whole_database:
            report.large_objects = _large_objects(tgt, source_url, target_url, listener, cancel)
    return record


def finish_follow(
    source_url: str, target_url: str, options: FollowCutoverOptions = FollowCutoverOptions(), *,
    writes_paused_at: float | None = None, listener: Listener = ignore, cancel: threading.Event | None = None,
) -> FollowCutoverReport:
    """With the app's writes paused (since ``writes_paused_at``, a ``time.monotonic()``; now if None): optionally
    freeze the source, wait for zero lag, set sequences and large objects, verify everything, and once verified
    take follow down; the report says whether to switch, and how."""
    paused = time.monotonic() if writes_paused_at is None else writes_paused_at
    listener(PhaseStarted(Phase.CUTOVER, "writes paused: waiting for the replication lag to reach zero"))
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        names, _ = _following(src, tgt)  # refused before the freeze, the one other write to the source
    report = FollowCutoverReport(names.name)
    if options.freeze_source:
        report.freeze = freeze_source(source_url)
        listener(Notice(report.freeze.describe(), "warning", [UNFREEZE]))
    try:
        record = _catch_up(report, source_url, target_url, options, listener, cancel)
        checks = VerifyOptions(include=tuple(record.include), exclude=tuple(record.exclude))
        if not options.verify_rows:
            report.notices.append("only the schema was compared in the window (verify_rows off): rows, sequences "
                                  "and large objects were not compared again")
            checks = replace(checks, data=False)
        report.verify = verify(source_url, target_url, checks, listener, cancel=cancel)
        if report.ok:
            with connect_source(source_url) as src, connect_target(target_url) as tgt:
                report.teardown = drop_follow_objects(src, tgt, source_url, names, listener)
    except BaseException as exc:
        _say_what_stays(exc, names, source_url, options.freeze_source, listener)
        raise
    report.write_freeze_seconds = time.monotonic() - paused
    if report.ok:
        report.instructions = switch_instructions(frozen=options.freeze_source)
    else:
        report.notices.append(
            "verification found differences: do not switch; " + ("unfreeze the source and " if report.freeze else "")
            + "resume writes on the old database, then look at the differences and run the cutover again. "
            + slot_left_behind(names.slot, describe_url(source_url)).replace("may remain", "remains"))
        listener(Notice(report.notices[-1], "warning"))
    listener(PhaseFinished(Phase.CUTOVER, report.write_freeze_seconds))
    return report


def _say_what_stays(exc: BaseException, names: FollowNames, source_url: str, frozen: bool,
                    listener: Listener) -> None:
    """A failed cutover leaves replication running (and the slot keeping the source's WAL), maybe a freeze."""
    stays = slot_left_behind(names.slot, describe_url(source_url)).replace(
        "run the same migrate with follow again to continue", "run the cutover again")
    if isinstance(exc, PghaulError):
        exc.hint = "; ".join(p for p in (exc.hint, f"the source is frozen: {UNFREEZE}" if frozen else "", stays) if p)
    listener(Notice(stays, "warning"))
