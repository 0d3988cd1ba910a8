"""Taking follow down: the subscription on the target, then the slot and the publication on the source.

In that order: the subscription is disabled and detached from its slot, so its apply worker and the source's WAL
sender stop and ``DROP SUBSCRIPTION`` never has to reach the source; then the slot, once no WAL sender holds it
(it is what keeps the source's WAL); then the publication; last the target's record. Each step finds its object
by its name (``follow/names.py``), so a teardown that stopped half way is finished by running it again.

Used by the cutover once verified, by ``stop_follow`` (follow given up: the target keeps its rows, and ``pghaul
sync`` catches up from there without replication), and by ``cleanup``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from pghaul.connect import connect_source, connect_source_writable, connect_target
from pghaul.errors import SafetyError
from pghaul.events import Listener, ignore
from pghaul.follow import source_objects, state
from pghaul.follow.connections import connect_replication
from pghaul.follow.events import ObjectAction, ReplicationObject, ReplicationObjectChanged, Server
from pghaul.follow.names import FollowNames, follow_names
from pghaul.follow.subscription import drop_subscription, subscription_info


@dataclass(frozen=True)
class TeardownReport:
    name: str
    dropped: tuple[ReplicationObject, ...]  # what existed and is gone

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dropped": [str(d) for d in self.dropped]}


def drop_follow_objects(
    src: psycopg.Connection, tgt: psycopg.Connection, source_url: str, names: FollowNames,
    listener: Listener = ignore,
) -> TeardownReport:
    """Whatever of follow's objects exists, dropped; the source is written to (a replication connection for the
    slot, the publication's writable session) only when its object is there (``src``, read-only, looks first)."""
    dropped = []

    def done(kind: ReplicationObject, server: Server) -> None:
        dropped.append(kind)
        listener(ReplicationObjectChanged(kind, names.name, server, ObjectAction.DROPPED))

    if drop_subscription(tgt, names.subscription):
        done(ReplicationObject.SUBSCRIPTION, Server.TARGET)
    state.copy_voided(tgt, names.name)
    if source_objects.slot_info(src, names.slot) is not None:
        with connect_replication(source_url) as repl:
            if source_objects.drop_slot(repl, names.slot):
                done(ReplicationObject.SLOT, Server.SOURCE)
    if source_objects.publication_tables(src, names.publication) is not None:
        with connect_source_writable(source_url) as conn:
            if source_objects.drop_publication(conn, names.publication):
                done(ReplicationObject.PUBLICATION, Server.SOURCE)
    state.forget(tgt, names.name)
    return TeardownReport(names.name, tuple(dropped))


def stop_follow(source_url: str, target_url: str, listener: Listener = ignore) -> TeardownReport:
    """Give follow up without a cutover: drop the subscription, the slot and the publication. The target keeps
    its rows as replication left them; ``pghaul sync`` brings it up to date from there."""
    from pghaul.engine.preflight import check_target_is_not_source

    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        check_target_is_not_source(src, tgt)
        return drop_follow_objects(src, tgt, source_url, follow_names(tgt), listener)


def refuse_follow_without_source(tgt: psycopg.Connection) -> None:
    """Dropping pghaul's schema without a source would forget a slot that keeps the source's WAL: refused."""
    names = follow_names(tgt)
    if subscription_info(tgt, names.subscription) is None and state.load(tgt, names.name) is None:
        return
    raise SafetyError(
        f"the target follows a source: the subscription or the record of {names.name} is here, and its "
        "replication slot on the source keeps the source's WAL until it is dropped",
        "run cleanup with the source URL too (--source), so the slot, the publication and the subscription are "
        f"dropped together; if the source is gone for good, on the target run ALTER SUBSCRIPTION {names.name} "
        f"DISABLE; ALTER SUBSCRIPTION {names.name} SET (slot_name = NONE); DROP SUBSCRIPTION {names.name}; then "
        "cleanup again",
    )
