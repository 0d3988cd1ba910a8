"""Where follow stands: the slot on the source, the subscription on the target, the lag in bytes and seconds, and
each table's replication state — one typed answer for ``pghaul status``, ``db-status`` and the page.

The lag in bytes is the source's: WAL written since the position the subscriber confirmed having applied and
flushed (``pg_current_wal_lsn() - confirmed_flush_lsn`` of the slot). In seconds, the source's WAL sender reports
how long its latest changes took to be applied (``pg_stat_replication.replay_lag``; empty once it has been idle a
while), and the target says how long ago its apply worker last heard from the source and last reported its
position (``pg_stat_subscription``). Without the source's URL (a shell that only knows the target) the slot and
the byte lag are unknown (None) and the rest is still read. Pure reads on both servers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import class_row

from pghaul.connect import connect_source, connect_target
from pghaul.errors import SafetyError
from pghaul.follow import state
from pghaul.follow.names import follow_names
from pghaul.follow.source_objects import SlotInfo, slot_info
from pghaul.inspect.model import qualified


class FollowState(StrEnum):
    NONE = "none"  # nothing of follow on either side
    COPYING = "copying"  # the slot is there, no subscription yet: migrate copies (or stopped before subscribing)
    STREAMING = "streaming"  # the subscription is enabled and its apply worker runs
    STOPPED = "stopped"  # the subscription is disabled, or its apply worker is not running (errors: target's log)
    BROKEN = "broken"  # the slot is gone or invalidated while the subscription or a complete copy relies on it


class TableReplicationState(StrEnum):
    """``pg_subscription_rel.srsubstate``. Follow subscribes with ``copy_data = false``: tables start ready."""

    INIT = "init"
    DATA_COPY = "data copy"
    FINISHED_COPY = "finished copy"
    SYNCHRONIZED = "synchronized"
    READY = "ready"


_SUBSTATES = {"i": TableReplicationState.INIT, "d": TableReplicationState.DATA_COPY,
              "f": TableReplicationState.FINISHED_COPY, "s": TableReplicationState.SYNCHRONIZED,
              "r": TableReplicationState.READY}


@dataclass(frozen=True)
class TableReplication:
    table: str
    state: TableReplicationState


@dataclass(frozen=True)
class SubscriptionStatus:
    name: str
    enabled: bool
    worker_running: bool
    received_lsn: str | None
    reported_lsn: str | None  # the position last reported to the source (applied and flushed)
    last_message_seconds: float | None  # since the apply worker last heard from the source
    last_report_seconds: float | None  # since it last reported its position
    apply_errors: int  # since the subscription was created (pg_stat_subscription_stats)


@dataclass(frozen=True)
class FollowStatus:
    name: str
    state: FollowState
    slot: SlotInfo | None  # None: no slot, or no source to ask (``source_known``)
    subscription: SubscriptionStatus | None
    tables: tuple[TableReplication, ...]
    copied: bool  # the copy finished in the slot's snapshot (the target's record)
    lag_bytes: int | None
    lag_seconds: float | None
    source_known: bool
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        sub = self.subscription
        return {
            "name": self.name, "state": str(self.state), "copied": self.copied, "lagBytes": self.lag_bytes,
            "lagSeconds": self.lag_seconds, "sourceKnown": self.source_known, "problems": list(self.problems),
            "slot": None if self.slot is None else {
                "active": self.slot.active, "walStatus": self.slot.wal_status,
                "confirmedFlushLsn": self.slot.confirmed_flush_lsn, "retainedBytes": self.slot.retained_bytes},
            "subscription": None if sub is None else {_camel(k): v for k, v in asdict(sub).items()},
            "tables": [{"table": t.table, "state": str(t.state)} for t in self.tables],
        }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


SUBSCRIPTION_SQL = """
SELECT s.subname AS name, s.subenabled AS enabled, st.pid IS NOT NULL AS worker_running,
       st.received_lsn::text AS received_lsn, st.latest_end_lsn::text AS reported_lsn,
       greatest(0, extract(epoch FROM pg_catalog.clock_timestamp() - st.last_msg_receipt_time))::float8
         AS last_message_seconds,
       greatest(0, extract(epoch FROM pg_catalog.clock_timestamp() - st.latest_end_time))::float8
         AS last_report_seconds,
       coalesce((SELECT x.apply_error_count FROM pg_catalog.pg_stat_subscription_stats AS x WHERE x.subid = s.oid), 0)
         AS apply_errors
  FROM pg_catalog.pg_subscription AS s
  LEFT JOIN pg_catalog.pg_stat_subscription AS st ON st.subid = s.oid AND st.relid IS NULL
 WHERE s.subname = %s
   AND s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
"""

TABLES_SQL = """
SELECT n.nspname, c.relname, r.srsubstate
  FROM pg_catalog.pg_subscription_rel AS r
  JOIN pg_catalog.pg_subscription AS s ON s.oid = r.srsubid
  JOIN pg_catalog.pg_class AS c ON c.oid = r.srrelid
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
 WHERE s.subname = %s
 ORDER BY 1, 2
"""

# The subscription's WAL sender on the source names itself after the subscription.
REPLAY_LAG_SQL = """
SELECT extract(epoch FROM replay_lag)::float8 FROM pg_catalog.pg_stat_replication WHERE application_name = %s
"""


def _subscription(tgt: psycopg.Connection, name: str) -> SubscriptionStatus | None:
    with tgt.cursor(row_factory=class_row(SubscriptionStatus)) as cur:
        return cur.execute(SUBSCRIPTION_SQL, [name]).fetchone()


def _state(slot: SlotInfo | None, sub: SubscriptionStatus | None, record: state.FollowRecord | None,
           source_known: bool) -> FollowState:
    slot_missing = source_known and (slot is None or slot.lost)
    if sub is not None:
        if slot_missing:
            return FollowState.BROKEN
        return FollowState.STREAMING if sub.enabled and sub.worker_running else FollowState.STOPPED
    if record is not None and record.copied and slot_missing:
        return FollowState.BROKEN
    return FollowState.COPYING if record is not None or slot is not None else FollowState.NONE


def _problems(slot: SlotInfo | None, sub: SubscriptionStatus | None, status: FollowState) -> tuple[str, ...]:
    out = []
    if status is FollowState.BROKEN:
        out.append("the replication slot on the source is gone or invalidated: changes since cannot be replayed; "
                   "stop follow and catch up with `pghaul sync`")
    if sub is not None and not sub.enabled:
        out.append("the subscription is disabled: nothing is applied")
    elif sub is not None and not sub.worker_running:
        out.append("the subscription's apply worker is not running (see the target's server log)")
    if sub is not None and sub.apply_errors:
        out.append(f"the apply worker failed {sub.apply_errors} time(s) since the subscription started (see the "
                   "target's server log: a change on the source the target refused, often a schema change)")
    if slot is not None and slot.wal_status == "unreserved":
        out.append("the slot's WAL is about to exceed max_slot_wal_keep_size on the source: it may be invalidated")
    return tuple(out)


def read_follow_status(src: psycopg.Connection | None, tgt: psycopg.Connection) -> FollowStatus:
    """Follow's status from sessions the caller holds (the API's pools); ``src`` None: the target's side only."""
    names = follow_names(tgt)
    record = state.load(tgt, names.name)
    sub = _subscription(tgt, names.subscription)
    tables = tuple(TableReplication(qualified(r[0], r[1]), _SUBSTATES[r[2]])
                   for r in tgt.execute(TABLES_SQL, [names.subscription]))
    slot = slot_info(src, names.slot) if src is not None else None
    lag_seconds = None
    if src is not None and sub is not None:
        row = src.execute(REPLAY_LAG_SQL, [names.subscription]).fetchone()
        lag_seconds = row[0] if row else None
    status = _state(slot, sub, record, src is not None)
    return FollowStatus(names.name, status, slot, sub, tables, bool(record and record.copied),
                        slot.lag_bytes if slot is not None else None, lag_seconds, src is not None,
                        _problems(slot, sub, status))


def follow_status(source_url: str | None, target_url: str) -> FollowStatus:
    """Follow's status; without ``source_url``, the target's side only (no slot, no byte lag)."""
    with connect_target(target_url) as tgt:
        if source_url is None:
            return read_follow_status(None, tgt)
        with connect_source(source_url) as src:
            return read_follow_status(src, tgt)


def earlier_follow_refusal(state: FollowState) -> tuple[str, str] | None:
    """Why a migration without follow may not run on a target an earlier run with follow started, and what to do:
    it would copy on and leave that run's replication slot keeping the source's WAL (its disk fills) with nothing
    to drop it, and its subscription writing into the tables beside the copy. None when nothing was started."""
    if state is FollowState.NONE:
        return None
    return (f"an earlier migration with follow started replication on this target (state: {state}); its "
            "replication slot keeps the source's WAL until it is dropped, and a migration without follow would "
            "leave it there",
            "run the migration with follow again to continue it, or give follow up first (`pghaul stop-follow`, "
            "or POST db-stop-follow)")


def refuse_migration_without_follow(src: psycopg.Connection, tgt: psycopg.Connection) -> None:
    """``migrate`` without follow: refused before anything is written when an earlier run started follow here."""
    refusal = earlier_follow_refusal(read_follow_status(src, tgt).state)
    if refusal is not None:
        raise SafetyError(*refusal)
