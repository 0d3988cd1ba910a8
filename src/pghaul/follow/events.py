"""Follow's progress events and the names they carry, for the shells to render (``pghaul.events`` has the rest)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pghaul.events import Event


class ReplicationObject(StrEnum):
    SLOT = "replication slot"  # on the source
    PUBLICATION = "publication"  # on the source
    SUBSCRIPTION = "subscription"  # on the target


class Server(StrEnum):
    SOURCE = "source"
    TARGET = "target"


class ObjectAction(StrEnum):
    CREATED = "created"
    ALTERED = "altered"
    ENABLED = "enabled"
    REUSED = "reused"  # there from an earlier run, and right as it is
    DROPPED = "dropped"


class StartKind(StrEnum):
    """How a run with follow starts (``follow/start.py``)."""

    FRESH = "fresh"  # no earlier copy: a new slot, the copy in its snapshot
    RESTART = "restart"  # an earlier copy did not finish in its slot's snapshot: emptied, copied again in a new one
    CONTINUE = "continue"  # the copy finished in the snapshot of the slot still there: nothing copied again
    # A target migrated without follow (``pghaul follow``, ``follow/adopt.py``): a new slot, and sync brings the
    # target to the source as of its snapshot instead of a copy.
    ADOPT = "adopt"


@dataclass(frozen=True)
class ReplicationObjectChanged(Event):
    """Follow created, changed or dropped one of its objects (``name`` is never a connection string)."""

    kind: ReplicationObject
    name: str
    server: Server
    action: ObjectAction
    detail: str = ""


@dataclass(frozen=True)
class FollowStartChosen(Event):
    start: StartKind
    reason: str


@dataclass(frozen=True)
class ReplicationCatchUp(Event):
    """While the cutover waits for the lag to reach zero: the source's WAL position to reach, what the subscriber
    confirmed so far, and the bytes between them. Emitted about twice a second, and once when reached."""

    target_lsn: str
    confirmed_lsn: str | None
    lag_bytes: int
    seconds_waited: float
    reached: bool = False
