"""Progress events: the engine emits them, the CLI renders them with rich, the HTTP layer stores them.

Events are plain frozen dataclasses so every shell can render them its own way; ``to_dict`` gives the
JSON form the HTTP API and the job log on the target use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pghaul.kinds import Phase, StepKind, StepOutcome


@dataclass(frozen=True)
class Event:
    def to_dict(self) -> dict[str, Any]:
        return {"event": type(self).__name__, **asdict(self)}


@dataclass(frozen=True)
class PhaseStarted(Event):
    """One of ``Phase``: preflight, pre-data, data, post-data, sequences, verify (in that order; a run skips
    those it has nothing for)."""

    phase: Phase
    detail: str = ""


@dataclass(frozen=True)
class PhaseFinished(Event):
    phase: Phase
    seconds: float = 0.0


@dataclass(frozen=True)
class StepApplied(Event):
    """A DDL step ran (``applied``), was already there identically (``skipped``), or was only shown."""

    phase: Phase
    kind: StepKind | str  # as on the Step: pg_dump's name for a kind pghaul does not treat specially
    name: str
    outcome: StepOutcome


@dataclass(frozen=True)
class TableStarted(Event):
    table: str
    rows_estimated: int
    bytes_estimated: int = 0


@dataclass(frozen=True)
class TableProgress(Event):
    table: str
    rows_done: int
    rows_estimated: int
    bytes_done: int
    rows_per_second: float = 0.0


@dataclass(frozen=True)
class TableFinished(Event):
    table: str
    rows_copied: int
    rows_skipped: int
    bytes_done: int
    seconds: float


@dataclass(frozen=True)
class IndexProgress(Event):
    """An index build on the target, read from pg_stat_progress_create_index."""

    index: str
    phase: str
    done: int = 0
    total: int = 0


@dataclass(frozen=True)
class Notice(Event):
    """Something the user should know that does not stop the run (no primary key, snapshot not reused, …)."""

    message: str
    level: str = "info"
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Retrying(Notice):
    """A run stopped by a lost connection (a backend ended, a server restarting) starts again after a pause, from
    its checkpoints. A notice with its figures: every shell that shows notices shows it, the typed fields are for
    those that want more. ``reason`` is the error's first line, never a URL or a password."""

    attempt: int = 0  # the attempt that failed: 1 for the first run
    attempts: int = 0  # at most this many in all
    wait_seconds: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class LargeObjectsProgress(Event):
    """Large objects complete on the target, of those on the source, and their bytes (objects already there from
    an earlier run included). Emitted once before the first batch and after each committed batch."""

    done: int
    total: int
    bytes_done: int
    bytes_total: int


Listener = Callable[[Event], None]


def ignore(_: Event) -> None:
    """The listener for callers that do not watch progress."""


def fan_out(*listeners: Listener) -> Listener:
    def emit(event: Event) -> None:
        for listener in listeners:
            listener(event)

    return emit
