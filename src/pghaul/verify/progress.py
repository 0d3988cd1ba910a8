"""The event verification emits per table; the rest of its progress uses the shared events in pghaul.events."""

from __future__ import annotations

from dataclasses import dataclass

from pghaul.events import Event


@dataclass(frozen=True)
class TableVerified(Event):
    table: str
    rows_source: int | None
    rows_target: int | None
    ok: bool
    differing_ranges: int
    seconds: float
