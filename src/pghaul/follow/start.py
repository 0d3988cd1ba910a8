"""The consistent start: the copy is read in the snapshot of the slot the subscription will read, so nothing is lost
and nothing is applied twice — and what a rerun does when an earlier run was killed.

Order (``MigrationRun`` calls each part at its place):

1. ``check``, before anything is written: every reason follow is not possible (``follow/preflight.py``), and the
   target's server reaching the source (``follow/probe.py``).
2. ``snapshot``, when the data phase begins: the publication (before the slot: ``follow/source_objects.py``
   says why), then the slot with its exported snapshot, created on a replication connection. A source session
   imports that snapshot and exports it again (``SnapshotHolder(imported=…)``), and the replication connection is
   closed: the workers import the holder's snapshot, which is the slot's moment exactly, and the holder keeps it
   for the verification during and after the copy as for any run.
3. ``copied``, after the data phase: recorded only when every worker read in that snapshot.
4. ``subscribe``, when the run is otherwise done (verified against the snapshot, when it verifies): the target
   applies, from the slot's consistent point on, everything the source committed since.

A rerun decides from the target's record (``follow/state.py``) and the source's slot (``decide``):

- the copy finished in the snapshot of the slot that is still there → ``CONTINUE``: nothing is copied again; the
  slot holds every change since; the subscription is created, or enabled, or left running (a kill during
  follow: PostgreSQL kept applying without pghaul).
- otherwise, with an earlier slot or earlier rows → ``RESTART``: that snapshot is gone with the killed process,
  and rows read in it match no slot a new run can create (a new slot decodes only what commits after *its*
  snapshot; the gap between the two snapshots would be lost, or applied over rows that already have it). So the
  old slot is dropped, the tables the earlier run filled are emptied — only when pghaul's checkpoints account
  for every row in them — and the copy starts again in a new slot's snapshot. Slower than resuming, never wrong.
- nothing earlier → ``FRESH``.

A slot that is gone while the copy was complete (dropped by hand, invalidated by ``max_slot_wal_keep_size``,
a platform removing idle slots) lost changes nobody can replay: that is refused, pointing to ``stop_follow`` and
``pghaul sync``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg import sql

from pghaul.connect import connect_source_writable
from pghaul.copy.snapshot import SnapshotHolder
from pghaul.copy.state import state_exists, state_sql
from pghaul.errors import PghaulError, SafetyError, UsageError
from pghaul.events import Listener, Notice
from pghaul.follow import source_objects, state
from pghaul.follow.connections import connect_replication
from pghaul.follow.events import (
    FollowStartChosen,
    ObjectAction,
    ReplicationObject,
    ReplicationObjectChanged,
    Server,
    StartKind,
)
from pghaul.follow.names import FollowNames, follow_names
from pghaul.follow.preflight import FollowPreflight, FollowReason, check_follow
from pghaul.follow.probe import probe_reachability
from pghaul.follow.source_objects import PublicationChange
from pghaul.follow.subscription import (
    create_subscription,
    drop_subscription,
    enable_subscription,
    subscription_info,
)
from pghaul.inspect.model import Table
from pghaul.state_schema import STATE_SCHEMA
from pghaul.urls import describe_url

PUBLICATION_ACTIONS = {PublicationChange.CREATED: ObjectAction.CREATED, PublicationChange.ALTERED: ObjectAction.ALTERED,
                       PublicationChange.UNCHANGED: ObjectAction.REUSED}
BASELINES = sql.Identifier(STATE_SCHEMA, "sync_baselines")


@dataclass
class FollowStarted:
    """What a run with follow did: ``MigrationResult.follow``."""

    name: str  # the slot, the publication and the subscription
    start: StartKind
    consistent_lsn: str | None = None  # the slot's consistent point: the copy's moment in the source's WAL
    tables: int = 0
    subscription: ObjectAction | None = None  # created, enabled, or reused (already applying)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "start": str(self.start), "consistentLsn": self.consistent_lsn,
                "tables": self.tables, "subscription": None if self.subscription is None else str(self.subscription)}


MIGRATE_AGAIN = "run the same migrate with follow again to continue"


def slot_left_behind(name: str, source: str, again: str = MIGRATE_AGAIN) -> str:
    """What every path that leaves the slot says: it keeps the source's WAL until dropped."""
    return (f"the replication slot {name} may remain on the source {source}, keeping the source's WAL (its disk "
            f"fills while it stays): {again}, or drop it with `pghaul cleanup` given both URLs (or `pghaul "
            "stop-follow`)")


class FollowSelection(Protocol):
    """What a follow start needs of its run's options (``MigrateOptions``, ``follow.adopt.FollowOptions``)."""

    @property
    def include(self) -> tuple[str, ...]: ...

    @property
    def exclude(self) -> tuple[str, ...]: ...

    def subscription_url(self, source_url: str) -> str: ...


class FollowStart:
    """Follow's part of one ``migrate`` (or of ``pghaul follow``: ``follow/adopt.py``): the checks, the slot and
    its snapshot, the subscription. ``again``: what a failure that leaves the slot tells people to run."""

    def __init__(self, source_url: str, target_url: str, options: FollowSelection, emit: Listener,
                 notice: Callable[[str, str, list[str]], None], again: str = MIGRATE_AGAIN) -> None:
        self.source_url = source_url
        self.target_url = target_url
        self.options = options
        self.subscription_url = options.subscription_url(source_url)
        self.emit = emit
        self.notice = notice
        self.again = again
        self.names = FollowNames("")
        self.tables: list[Table] = []
        self.report: FollowStarted | None = None
        self.slot_may_exist = False  # what a failure must warn about

    # --- 1. before anything is written ---------------------------------------------------------------------------

    def check(self, src: psycopg.Connection, tgt: psycopg.Connection, tables: list[Table]) -> FollowPreflight:
        """Raise ``FollowNotPossible`` with every reason; the caveats become the run's notices."""
        found = self.preflight(src, tgt, tables)
        if not found.possible:
            raise found.error()
        return found

    def preflight(self, src: psycopg.Connection, tgt: psycopg.Connection, tables: list[Table]) -> FollowPreflight:
        """Every reason follow is not possible for ``tables``, the probe included; writes nothing."""
        self.names = follow_names(tgt)
        self.tables = tables
        whole = not (self.options.include or self.options.exclude)
        found = probe_reachability(check_follow(src, tgt, tables, self.names, self.subscription_url, whole),
                                   tgt, self.subscription_url, self.names)
        # An earlier run's slot: any failure of this one must mention it too.
        self.slot_may_exist = source_objects.slot_info(src, self.names.slot) is not None
        return found

    # --- 2. the slot and its snapshot ----------------------------------------------------------------------------

    def decide(self, src: psycopg.Connection, tgt: psycopg.Connection) -> tuple[StartKind, str]:
        record = state.load(tgt, self.names.name)
        slot = source_objects.slot_info(src, self.names.slot)
        self.slot_may_exist = slot is not None
        if record is not None and record.copied:
            if slot is None or slot.lost:
                raise SafetyError(
                    f"the replication slot {self.names.slot} that follow's copy was made with is "
                    f"{'gone' if slot is None else 'invalidated (its WAL was removed)'} on the source: the changes "
                    "since the copy cannot be replayed",
                    "stop follow (`pghaul stop-follow`, or `pghaul cleanup` given both URLs) and bring the target up "
                    "to date with `pghaul sync`, which needs no replication; or clean up and migrate again")
            if set(record.tables) != {t.display_name for t in self.tables}:
                raise UsageError(
                    "this run selects other tables than the follow it would continue",
                    "run with the same --include/--exclude as before, or stop follow first")
            return StartKind.CONTINUE, (f"the rows were all copied in the snapshot of the slot {self.names.slot}, "
                                        "which is still there: nothing is copied again")
        if slot is not None or record is not None or self._earlier_rows(tgt):
            return StartKind.RESTART, ("an earlier copy did not finish in its slot's snapshot, which is gone with "
                                       "the process that held it: the tables it filled are emptied and copied again "
                                       "in a new slot's snapshot")
        return StartKind.FRESH, "a new slot, and the copy in its snapshot"

    @contextmanager
    def snapshot(self, src: psycopg.Connection, tgt: psycopg.Connection) -> Iterator[SnapshotHolder | None]:
        """The holder of the slot's snapshot for the copy, or None when the copy is complete already."""
        start, reason = self.decide(src, tgt)
        self.report = FollowStarted(self.names.name, start, tables=len(self.tables))
        self.emit(FollowStartChosen(start, reason))
        if start is StartKind.CONTINUE:
            self.notice(reason, "info", [])
            yield None
            return
        if start is StartKind.RESTART:
            self.notice(reason, "warning", [])
            self._undo_earlier(tgt)
        holder = self.create(tgt)
        try:
            yield holder
        finally:
            holder.close()

    def create(self, tgt: psycopg.Connection) -> SnapshotHolder:
        """The publication, then the slot, and the holder of the slot's snapshot (the caller closes it). A start
        is recorded before the slot exists and its consistent point once it does (into ``self.report``, which the
        caller has set)."""
        with connect_source_writable(self.source_url) as conn:
            change = source_objects.ensure_publication(conn, self.names.publication, self.tables)
        self._changed(ReplicationObject.PUBLICATION, Server.SOURCE, PUBLICATION_ACTIONS[change],
                      f"{len(self.tables)} table(s)")
        state.begin(tgt, self.names.name, describe_url(self.source_url), self.tables, self.options.include,
                    self.options.exclude)
        with connect_replication(self.source_url) as repl:
            self.slot_may_exist = True
            created = source_objects.create_slot(repl, self.names.slot)
            # Imported (and exported again) while the replication connection is still open and idle: after
            # this, the snapshot lives in the holder's transaction and the replication connection may close.
            holder = SnapshotHolder(self.source_url, imported=created.snapshot)
        self._changed(ReplicationObject.SLOT, Server.SOURCE, ObjectAction.CREATED,
                      f"consistent point {created.consistent_lsn}")
        state.slot_created(tgt, self.names.name, created.consistent_lsn)
        assert self.report is not None
        self.report.consistent_lsn = created.consistent_lsn
        return holder

    def _undo_earlier(self, tgt: psycopg.Connection) -> None:
        """What an earlier, unfinished start left: its record voided first, then its subscription and slot, then
        the rows it copied (refused, with nothing changed, when some are not pghaul's)."""
        earlier = self._earlier_rows(tgt)
        _refuse_rows_not_copied(tgt, earlier)
        state.copy_voided(tgt, self.names.name)
        if drop_subscription(tgt, self.names.subscription):
            self._changed(ReplicationObject.SUBSCRIPTION, Server.TARGET, ObjectAction.DROPPED)
        with connect_replication(self.source_url) as repl:
            if source_objects.drop_slot(repl, self.names.slot):
                self._changed(ReplicationObject.SLOT, Server.SOURCE, ObjectAction.DROPPED, "its snapshot was lost")
        if earlier:
            _empty(tgt, list(earlier))
            self.notice(f"emptied {len(earlier)} table(s) an earlier run had copied in a snapshot now gone, to copy "
                        "them again", "warning", sorted(".".join(k) for k in earlier))

    def _earlier_rows(self, tgt: psycopg.Connection) -> dict[tuple[str, str], tuple[int, int]]:
        """Selected tables with checkpoints: rows pghaul copied and rows it skipped (already there), per table."""
        if not state_exists(tgt):
            return {}
        rows = tgt.execute(state_sql(
            "SELECT table_schema, table_name, sum(rows_copied), sum(rows_skipped) FROM {checkpoints}"
            " GROUP BY 1, 2")).fetchall()
        selected = {t.key for t in self.tables}
        return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows if (r[0], r[1]) in selected}

    # --- 3. and 4. after the copy --------------------------------------------------------------------------------

    def copied(self, tgt: psycopg.Connection, in_snapshot: bool) -> None:
        """The data phase is over: every range is in. Recorded as the slot's copy only if all of it was read in
        the slot's snapshot (a worker that could not import it read later rows: a rerun copies again)."""
        if self.report is None or self.report.start is StartKind.CONTINUE:
            return
        if not in_snapshot:
            raise PghaulError(
                "a worker could not import the replication slot's snapshot: some rows were read at a later moment "
                "and do not match the slot", "run the same command again: it starts follow again from a new slot")
        state.copy_complete(tgt, self.names.name)

    def subscribe(self, tgt: psycopg.Connection) -> None:
        found = subscription_info(tgt, self.names.subscription)
        if found is None:
            create_subscription(tgt, self.names, self.subscription_url)
            action = ObjectAction.CREATED
        else:
            if found.slot_name is None:  # detached by a stop that did not finish
                tgt.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = {})").format(
                    sql.Identifier(self.names.subscription), sql.Literal(self.names.slot)))
            if not found.enabled:
                enable_subscription(tgt, self.names.subscription)
            action = ObjectAction.ENABLED if not found.enabled or found.slot_name is None else ObjectAction.REUSED
        state.subscribed(tgt, self.names.name)
        assert self.report is not None
        self.report.subscription = action
        self._changed(ReplicationObject.SUBSCRIPTION, Server.TARGET, action,
                      "applies every change the source commits, from the copy's moment on")

    def announce(self, caveats: tuple[FollowReason, ...]) -> None:
        """What follow writes (named in the run's notices, as the plan names it), and what it does not carry."""
        self.notice(f"follow: a publication and a logical replication slot {self.names.name} on the source (the "
                    "cutover, `pghaul stop-follow` or cleanup drops them), a subscription on the target",
                    "info", [f"{c.message}: {c.hint}" for c in caveats])

    def warn_slot_left(self, exc: BaseException) -> None:
        """Every failure after the slot may exist says so, in its hint and as a notice."""
        if not self.slot_may_exist:
            return
        message = slot_left_behind(self.names.slot, describe_url(self.source_url), self.again)
        if isinstance(exc, PghaulError):
            exc.hint = f"{exc.hint}; {message}".lstrip("; ")
        self.emit(Notice(message, "warning"))

    def _changed(self, kind: ReplicationObject, server: Server, action: ObjectAction, detail: str = "") -> None:
        self.emit(ReplicationObjectChanged(kind, self.names.name, server, action, detail))


def _refuse_rows_not_copied(tgt: psycopg.Connection, earlier: dict[tuple[str, str], tuple[int, int]]) -> None:
    """Emptying a table is only for rows pghaul put there: its checkpoints must account for every row in it."""
    foreign = []
    for key, (copied, skipped) in sorted(earlier.items()):
        row = tgt.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*key))).fetchone()
        count = int(row[0]) if row else 0
        if skipped or count != copied:
            foreign.append(f"{'.'.join(key)} ({count} rows, {copied} copied by pghaul)")
    if foreign:
        raise SafetyError(
            f"follow must copy again {len(foreign)} table(s) in a new snapshot, but they hold rows pghaul's "
            "checkpoints do not account for: pghaul will not delete rows it did not write",
            "migrate without follow and catch up with `pghaul sync`, or empty those tables yourself",
            None)


def _empty(tgt: psycopg.Connection, tables: list[tuple[str, str]]) -> None:
    """The tables and their checkpoints (and sync baselines) in one transaction: a kill leaves both or neither."""
    keys = ([k[0] for k in tables], [k[1] for k in tables])
    with tgt.transaction():
        tgt.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(sql.Identifier(*k) for k in tables)))
        tgt.execute(state_sql("DELETE FROM {checkpoints} WHERE (table_schema, table_name) IN"
                              " (SELECT * FROM unnest(%s::text[], %s::text[]))"), keys)
        if tgt.execute("SELECT to_regclass(%s) IS NOT NULL", [BASELINES.as_string(tgt)]).fetchone() == (True,):
            tgt.execute(sql.SQL("DELETE FROM {} WHERE (table_schema, table_name) IN"
                                " (SELECT * FROM unnest(%s::text[], %s::text[]))").format(BASELINES), keys)
