"""The ways of moving the dataset that the benchmark compares, each behind the same small interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from benchmarks.servers import Server

END_TO_END = "end to end"
DATA_PHASE = "data phase"


@dataclass(frozen=True)
class Context:
    """Where a method reads and writes: the target database is empty when ``run`` starts."""

    source: Server
    target: Server
    source_db: str
    target_db: str
    workers: int
    with_vectors: bool
    work_dir: Path

    @property
    def source_url(self) -> str:
        return self.source.url(self.source_db)

    @property
    def target_url(self) -> str:
        return self.target.url(self.target_db)


@dataclass
class Outcome:
    seconds: float
    # Further figures from the same run, e.g. pghaul's own data-phase time, its peak memory, the HNSW build.
    extras: dict[str, float] = field(default_factory=dict)


class MethodSkipped(Exception):
    """The method cannot run here or now (missing tool, engine not built yet); the message says why."""


class Method(Protocol):
    key: str
    label: str
    measures: str  # END_TO_END or DATA_PHASE

    def unavailable(self, ctx: Context) -> str | None:
        """None when the method can run, else one line saying why it is skipped."""
        ...

    def prepare(self, ctx: Context) -> None:
        """Untimed setup in the empty target (pre-created tables for the data-phase methods)."""
        ...

    def run(self, ctx: Context) -> Outcome: ...
