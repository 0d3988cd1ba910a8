"""Follow: keep the target up to date with PostgreSQL's own logical replication from the copy's moment until the
cutover, where both servers allow it. pghaul starts replication at exactly the right point, watches it, and takes
it down cleanly; PostgreSQL replicates.

One idea per file: ``preflight`` (every reason follow is not possible) and ``probe`` (the target's server reaching
the source), ``names``, ``connections`` (the writable exceptions on the source), ``source_objects`` (slot and
publication), ``subscription``, ``state`` (what the target records), ``start`` (the consistent start and what a
rerun does), ``adopt`` (follow on a target migrated without it: sync in the slot's snapshot instead of a copy),
``status``, ``catch_up`` (waiting for zero lag), ``cutover``, ``teardown``, ``events``.

The names below are loaded on first use, so importing ``pghaul.follow.names`` (the planner does) stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "FollowBlocker": "pghaul.follow.preflight",
    "FollowCaveat": "pghaul.follow.preflight",
    "FollowReason": "pghaul.follow.preflight",
    "FollowPreflight": "pghaul.follow.preflight",
    "FollowNotPossible": "pghaul.follow.preflight",
    "follow_preflight": "pghaul.follow.preflight",
    "FollowStarted": "pghaul.follow.start",
    "FollowOptions": "pghaul.follow.adopt",
    "FollowMigrated": "pghaul.follow.adopt",
    "follow_migrated": "pghaul.follow.adopt",
    "follow_migrated_preflight": "pghaul.follow.adopt",
    "StartKind": "pghaul.follow.events",
    "ReplicationObject": "pghaul.follow.events",
    "ReplicationObjectChanged": "pghaul.follow.events",
    "ReplicationCatchUp": "pghaul.follow.events",
    "FollowStartChosen": "pghaul.follow.events",
    "ObjectAction": "pghaul.follow.events",
    "Server": "pghaul.follow.events",
    "FollowState": "pghaul.follow.status",
    "FollowStatus": "pghaul.follow.status",
    "TableReplicationState": "pghaul.follow.status",
    "follow_status": "pghaul.follow.status",
    "read_follow_status": "pghaul.follow.status",
    "FollowCutoverOptions": "pghaul.follow.cutover",
    "FollowCutoverReport": "pghaul.follow.cutover",
    "finish_follow": "pghaul.follow.cutover",
    "TeardownReport": "pghaul.follow.teardown",
    "stop_follow": "pghaul.follow.teardown",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pghaul.follow' has no attribute {name!r}")
    return getattr(import_module(module), name)
