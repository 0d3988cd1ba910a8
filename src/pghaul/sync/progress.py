"""The events a sync emits per table; the phase itself is announced with the shared events in pghaul.events."""

from __future__ import annotations

from dataclasses import dataclass

from pghaul.events import Event
from pghaul.kinds import SyncMethod


@dataclass(frozen=True)
class TablesToSync(Event):
    """How many tables the sync will compare, announced before the first."""

    tables: int


@dataclass(frozen=True)
class TableSynced(Event):
    table: str
    method: SyncMethod
    ranges_compared: int
    ranges_differing: int
    rows_inserted: int
    rows_updated: int
    rows_deleted: int
    seconds: float


@dataclass(frozen=True)
class SyncFinished(Event):
    """The whole sync's figures, as its report's summary line says them."""

    summary: str
    changes: int
    seconds: float
