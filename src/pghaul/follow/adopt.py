"""Follow on a migrated target (``pghaul follow``): a target migrated without follow starts following without
copying anything again. Sync brings it to the source as of a new slot's snapshot; the subscription applies
everything committed since.

Order (``follow_migrated``):

1. The checks, nothing written if one refuses: the target does not follow already (no subscription of
   follow's); the migration into it finished; sync's own checks (``sync/preparation.py``: a pghaul target,
   shape changes sync carries, keyless tables holding only pghaul's rows); follow's preflight for the tables
   sync selects, the probe included — the same as ``migrate --follow``'s.
2. The publication, then the slot with its exported snapshot, held by ``SnapshotHolder(imported=…)``: exactly a
   fresh ``migrate --follow``'s start (``FollowStart.create``).
3. Sync in that snapshot (``SyncOptions.snapshot_id``): every selected table compared and what differs replaced,
   so the target equals the source as of the slot's consistent point — what migrate copied and everything
   written since, none of it twice. Its row-version baselines carry that snapshot's xmin, which is right for
   them too. Large objects as well; sequences are not transactional and are set at the cutover.
4. Recorded (``follow/state.py``): the copy is complete in the slot's snapshot, as after ``migrate --follow``'s
   copy. Then the subscription (``create_slot = false, copy_data = false``). From here on the target is one a
   ``migrate --follow`` left: status, ``finish_follow`` and ``stop_follow`` work on it unchanged.

A rerun decides from what it finds (``look``): a subscription → refused, the target follows already; the sync
recorded complete in the snapshot of the slot still there → ``CONTINUE``, only the subscription is created;
anything else of an earlier start (a slot, a record of a sync not finished, a slot gone since) → that start's
snapshot died with its process, so no slot can vouch for the target's rows: its objects are taken down first,
then ``ADOPT`` again in a new slot's snapshot. Sync rewrites only what differs: starting again costs a
comparison, not a copy, and nothing is lost or doubled. Until the sync is recorded, every failure says a slot
may remain on the source, keeping its WAL (``FollowStart.warn_slot_left``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pghaul.connect import connect_source, connect_target
from pghaul.engine import jobs
from pghaul.engine.preflight import check_target_is_not_source
from pghaul.errors import SafetyError, UsageError
from pghaul.events import Listener, Notice, ignore
from pghaul.follow import source_objects, state
from pghaul.follow.events import FollowStartChosen, ReplicationObject, StartKind
from pghaul.follow.names import follow_names
from pghaul.follow.preflight import FollowPreflight
from pghaul.follow.start import FollowStart, FollowStarted
from pghaul.follow.status import read_follow_status
from pghaul.follow.subscription import subscription_info
from pghaul.follow.teardown import drop_follow_objects
from pghaul.inspect import inspect_catalog
from pghaul.inspect.model import Table
from pghaul.plan import PlanOptions, select_tables
from pghaul.sync import SyncOptions, SyncReport, sync
from pghaul.sync.preparation import UNFINISHED_PHASES, Prepared, check_sync_options, prepare

RUN_AGAIN = "run the same `pghaul follow` again to continue"
# Two `pghaul follow` runs into one target would create, drop and record the same slot: the second is refused.
# Not the migration's own lock (``jobs.MIGRATION_LOCK_KEY``): the sync inside takes that one in its own session.
FOLLOW_START_LOCK_KEY = 7_361_002_118


@dataclass(frozen=True)
class FollowOptions:
    """What ``follow_migrated`` publishes and how it syncs: sync's selection, so the tables published are the
    tables brought to the slot's snapshot."""

    include: tuple[str, ...] = ()  # fnmatch patterns on "schema.table", as sync and migrate resolve them
    exclude: tuple[str, ...] = ()
    workers: int | None = None  # tables synced at once; None: as many as migrate would use
    full: bool = False  # compare every row's checksum, even where the row versions say nothing changed
    # The source as the target's server reaches it, when that differs (a platform's private network), password
    # included: the subscription's connection string, never shown (``MigrateOptions.follow_source_url``).
    follow_source_url: str | None = field(default=None, repr=False)

    def subscription_url(self, source_url: str) -> str:
        return self.follow_source_url or source_url

    def sync_options(self, snapshot_id: str | None = None) -> SyncOptions:
        return SyncOptions(include=self.include, exclude=self.exclude, workers=self.workers, full=self.full,
                           snapshot_id=snapshot_id)


@dataclass
class FollowMigrated:
    """What ``follow_migrated`` did."""

    follow: FollowStarted
    sync: SyncReport | None = None  # None: continued, the sync was recorded complete in the slot's snapshot
    earlier_dropped: tuple[ReplicationObject, ...] = ()  # an earlier start's objects, taken down first
    notices: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"follow": self.follow.to_dict(), "sync": None if self.sync is None else self.sync.to_dict(),
                "earlierDropped": [str(k) for k in self.earlier_dropped], "notices": list(self.notices),
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Found:
    """What ``look`` found of follow on the target: how this run starts, and whether an earlier start's objects
    must be taken down first."""

    start: StartKind
    reason: str
    record: state.FollowRecord | None = None
    earlier: bool = False


def _refuse_unfinished_migration(tgt: psycopg.Connection) -> None:
    """Follow starts on a finished migration only: one that stopped part way may lack rows, indexes or keys (its
    follow start, if it had one, is migrate's to finish); one still running holds the lock the sync needs."""
    status = jobs.read_status(tgt)
    if status.state == "running" or (status.state == "failed" and status.phase in UNFINISHED_PHASES):
        doing = "is still running" if status.state == "running" else "stopped before it finished"
        raise SafetyError(
            f"the migration into this target {doing} (in its {status.phase} phase): follow starts only on a "
            "finished migration; nothing was written",
            "wait for it to finish, then run `pghaul follow`" if status.state == "running" else
            "run the same `pghaul migrate` again to finish it (with --follow if it had it: then it follows "
            "already), then `pghaul follow`")


def _lock_follow_start(tgt: psycopg.Connection) -> None:
    """For this session's life (released when it closes)."""
    row = tgt.execute("SELECT pg_catalog.pg_try_advisory_lock(%s)", [FOLLOW_START_LOCK_KEY]).fetchone()
    if not (row and row[0]):
        raise SafetyError("another `pghaul follow` into this target is running",
                          "wait for it to finish (`pghaul status --source … --target …` shows follow's state)")


class FollowMigratedRun:
    """One ``pghaul follow``: the look at what is there, the checks, the slot, the sync in its snapshot, the
    subscription."""

    def __init__(self, source_url: str, target_url: str, options: FollowOptions, emit: Listener,
                 cancel: threading.Event | None) -> None:
        self.source_url = source_url
        self.target_url = target_url
        self.options = options
        self.emit = emit
        self.cancel = cancel
        self.notices: list[str] = []
        self.start = FollowStart(source_url, target_url, options, emit, self.notice, again=RUN_AGAIN)

    def notice(self, message: str, level: str = "info", details: list[str] | None = None) -> None:
        self.notices.append(message)
        self.emit(Notice(message, level, details or []))

    # --- what is there: reads only -------------------------------------------------------------------------------

    def look(self, src: psycopg.Connection, tgt: psycopg.Connection) -> Found:
        """How this run starts; refused here (nothing written) when the target follows already or its
        migration did not finish."""
        check_target_is_not_source(src, tgt)
        _refuse_unfinished_migration(tgt)
        names = follow_names(tgt)
        self.start.names = names
        if subscription_info(tgt, names.subscription) is not None:
            following = read_follow_status(src, tgt).state
            raise SafetyError(
                f"the target follows the source already (follow: {following}; subscription {names.subscription}); "
                "nothing was written",
                "watch it with `pghaul status --source … --target …`; finish with `pghaul cutover --follow`, or "
                "give it up with `pghaul stop-follow` (then `pghaul follow` can start it again)")
        record = state.load(tgt, names.name)
        slot = source_objects.slot_info(src, names.slot)
        self.start.slot_may_exist = slot is not None  # from here on, any failure says it stays
        if record is not None and record.copied and slot is not None and not slot.lost:
            return Found(StartKind.CONTINUE, f"the target was brought to the snapshot of the slot {names.slot}, "
                         "which is still there and keeps every change since: nothing is synced again", record)
        if record is not None or slot is not None:
            if record is not None and record.copied:
                why = (f"the slot {names.slot} the target was brought to is "
                       f"{'gone' if slot is None else 'invalidated'}: the changes since cannot be replayed")
            else:
                why = "an earlier start did not finish: the snapshot of its slot died with its process"
            return Found(StartKind.ADOPT, f"{why}, so follow's objects are dropped and the target synced again in a "
                         "new slot's snapshot (only what differs is rewritten)", record, earlier=True)
        return Found(StartKind.ADOPT, "a new slot, and sync brings the target to the source as of its snapshot")

    def selected(self, src: psycopg.Connection) -> list[Table]:
        """The tables the options select on the source (sync's selection, without sync's checks)."""
        catalog = inspect_catalog(src, with_dump=False)
        chosen = select_tables(catalog, PlanOptions(self.options.include, self.options.exclude))
        return [t for _, t in sorted(chosen.items()) if t.kind == "r"]

    def preflight(self, src: psycopg.Connection, tgt: psycopg.Connection) -> FollowPreflight:
        """Every refusal ``run`` would meet before writing (raised), then follow's preflight (returned, possible
        or not). After an earlier, unfinished start, sync's checks wait for its objects to be taken down: the
        run makes them then."""
        found = self.look(src, tgt)
        if found.start is StartKind.CONTINUE:
            tables = self._continued_tables(src, found)
        elif found.earlier:
            tables = self.selected(src)
        else:
            tables = self._tables(self._prepare(src, tgt))
        return self.start.preflight(src, tgt, tables)

    def _continued_tables(self, src: psycopg.Connection, found: Found) -> list[Table]:
        tables = self.selected(src)
        assert found.record is not None
        if set(found.record.tables) != {t.display_name for t in tables}:
            raise UsageError("this run selects other tables than the follow start it would continue",
                             "run with the same --include/--exclude as before, or stop follow first")
        return tables

    def _prepare(self, src: psycopg.Connection, tgt: psycopg.Connection) -> Prepared:
        return prepare(src, tgt, self.options.sync_options())

    @staticmethod
    def _tables(prepared: Prepared) -> list[Table]:
        return [t for _, t in sorted(prepared.selected.items()) if t.kind == "r"]

    # --- the run -------------------------------------------------------------------------------------------------

    def run(self) -> FollowMigrated:
        started = time.monotonic()
        with connect_source(self.source_url) as src, connect_target(self.target_url) as tgt:
            try:
                _lock_follow_start(tgt)
                result = self._run(src, tgt)
            except BaseException as exc:
                self.start.warn_slot_left(exc)
                raise
        result.notices = self.notices
        result.seconds = time.monotonic() - started
        return result

    def _run(self, src: psycopg.Connection, tgt: psycopg.Connection) -> FollowMigrated:
        found = self.look(src, tgt)
        if found.start is StartKind.CONTINUE:
            tables = self._continued_tables(src, found)
            self._checked(src, tgt, found, tables)
            assert found.record is not None
            self.start.report = FollowStarted(self.start.names.name, StartKind.CONTINUE,
                                              found.record.consistent_lsn, len(tables))
            self.start.subscribe(tgt)
            return FollowMigrated(self.start.report)
        dropped: tuple[ReplicationObject, ...] = ()
        if found.earlier:
            # The one write before sync's checks: what an earlier start left cannot serve (its snapshot is gone).
            self.notice(found.reason, "warning")
            dropped = drop_follow_objects(src, tgt, self.source_url, self.start.names, self.emit).dropped
            self.start.slot_may_exist = False
        prepared = self._prepare(src, tgt)
        tables = self._tables(prepared)
        self._checked(src, tgt, found, tables)
        self.start.report = FollowStarted(self.start.names.name, StartKind.ADOPT, tables=len(tables))
        holder = self.start.create(tgt)
        try:
            report = sync(self.source_url, self.target_url, self.options.sync_options(holder.snapshot_id),
                          self.emit, self.cancel, prepared=prepared)
        finally:
            holder.close()
        # Every selected table now equals the source as of the slot's snapshot: what the slot decodes is the rest.
        self.start.copied(tgt, in_snapshot=True)
        self.start.subscribe(tgt)
        return FollowMigrated(self.start.report, report, dropped)

    def _checked(self, src: psycopg.Connection, tgt: psycopg.Connection, found: Found, tables: list[Table]) -> None:
        """Follow's preflight (raises ``FollowNotPossible``), then the start chosen and what follow writes."""
        caveats = self.start.check(src, tgt, tables).caveats
        self.emit(FollowStartChosen(found.start, found.reason))
        self.start.announce(caveats)


def follow_migrated(
    source_url: str | None,
    target_url: str | None,
    options: FollowOptions = FollowOptions(),  # frozen: sharing the default is safe
    listener: Listener = ignore,
    cancel: threading.Event | None = None,
) -> FollowMigrated:
    """Keep a target that pghaul migrated (without follow) following its source with logical replication, without
    copying it again: a new slot, sync in its snapshot, the subscription. Refused before anything is written
    when the target follows already, its migration did not finish, sync would refuse it, or follow is not
    possible (``FollowNotPossible``, every reason). A rerun after any failure converges."""
    check_sync_options(options.sync_options())
    return FollowMigratedRun(source_url or "", target_url or "", options, listener, cancel).run()


def follow_migrated_preflight(source_url: str | None, target_url: str | None,
                              options: FollowOptions = FollowOptions()) -> FollowPreflight:
    """What ``follow_migrated`` would find, for a shell to show before it asks: its refusals raised, then follow's
    preflight (blockers and caveats, the probe included). Writes nothing to either server."""
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        return FollowMigratedRun(source_url or "", target_url or "", options, ignore, None).preflight(src, tgt)
