"""The event verification emits per table; the phase itself is announced with the shared events in pghaul.events.

Verification does not reuse TableStarted/TableFinished: those describe copying, and listeners count their rows.
"""

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


@dataclass(frozen=True)
class TablesToVerify(Event):
    """How many tables the comparison will check, announced before the first: progress is checked of total."""

    tables: int
