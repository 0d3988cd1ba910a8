"""What the running job is doing right now, from its progress events: phase, rows, bytes, rates and ETAs.

The durable record (job state, per-table checkpoints) is on the target (:mod:`pghaul.copy.state`); this is the
fast-moving part that only the process running the job knows, kept in memory and merged into ``db-status``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pghaul import events
from pghaul.engine.cutover import CatchUpRound
from pghaul.follow.events import ReplicationCatchUp, ReplicationObjectChanged
from pghaul.sync.progress import TablesToSync, TableSynced
from pghaul.verify.progress import TablesToVerify, TableVerified


@dataclass
class TableLive:
    rows_done: int = 0
    rows_estimated: int = 0
    bytes_done: int = 0
    rate: float = 0.0
    started: float = field(default_factory=time.monotonic)
    finished: bool = False


class LiveProgress:
    """A listener for the engine's events that keeps the latest state of each table and phase."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.phase: str | None = None
        self.tables: dict[str, TableLive] = {}
        self.notices: list[dict[str, Any]] = []
        self.indexes: dict[str, dict[str, Any]] = {}
        self.large_objects: dict[str, int] | None = None
        self.started = time.monotonic()
        self.data_started: float | None = None
        self.tables_to_verify: int | None = None  # known once verification has listed its tables
        self.tables_verified = 0
        # A sync (or the round of a catch-up) in progress: how many tables it compares, those it has finished.
        self.tables_to_sync: int | None = None
        self.synced: list[TableSynced] = []
        self.rounds: list[CatchUpRound] = []  # a catch-up's rounds so far
        # Follow: its objects as the job created or dropped them, and the follow cutover's latest wait for zero lag.
        self.replication: list[dict[str, str]] = []
        self.replication_lag: dict[str, Any] | None = None

    def _sync_event(self, event: events.Event) -> bool:
        """Takes a sync's or a catch-up's own events; False for any other."""
        if isinstance(event, TablesToSync):
            # Each catch-up round is a sync of its own: its table list starts again.
            self.tables_to_sync, self.synced = event.tables, []
        elif isinstance(event, TableSynced):
            self.synced.append(event)
        elif isinstance(event, CatchUpRound):
            self.rounds.append(event)
        else:
            return False
        return True

    def _follow_event(self, event: events.Event) -> bool:
        """Takes follow's own events; False for any other."""
        if isinstance(event, ReplicationObjectChanged):
            self.replication.append({"kind": str(event.kind), "name": event.name, "server": str(event.server),
                                     "action": str(event.action), "detail": event.detail})
        elif isinstance(event, ReplicationCatchUp):
            self.replication_lag = {"targetLsn": event.target_lsn, "confirmedLsn": event.confirmed_lsn,
                                    "lagBytes": event.lag_bytes, "secondsWaited": event.seconds_waited,
                                    "reached": event.reached}
        else:
            return False
        return True

    def __call__(self, event: events.Event) -> None:
        with self._lock:
            if self._sync_event(event) or self._follow_event(event):
                return
            if isinstance(event, events.PhaseStarted):
                self.phase = event.phase
                if event.phase == "data":
                    self.data_started = time.monotonic()
            elif isinstance(event, events.TableStarted):
                live = self.tables.setdefault(event.table, TableLive())
                live.rows_estimated = max(live.rows_estimated, event.rows_estimated)
            elif isinstance(event, events.TableProgress):
                live = self.tables.setdefault(event.table, TableLive())
                live.rows_done = event.rows_done
                live.rows_estimated = max(live.rows_estimated, event.rows_estimated)
                live.bytes_done = event.bytes_done
                elapsed = time.monotonic() - live.started
                live.rate = event.rows_per_second or (event.rows_done / elapsed if elapsed > 0 else 0.0)
            elif isinstance(event, events.TableFinished):
                live = self.tables.setdefault(event.table, TableLive())
                live.rows_done = event.rows_copied + event.rows_skipped
                live.bytes_done = event.bytes_done
                live.rate = live.rows_done / event.seconds if event.seconds > 0 else live.rate
                live.finished = True
            elif isinstance(event, events.IndexProgress):
                # The watcher may poll once more after the step was applied: a finished build stays finished.
                finished = self.indexes.get(event.index, {}).get("finished", False)
                self.indexes[event.index] = {"phase": event.phase, "done": event.done, "total": event.total,
                                             "finished": finished}
            elif isinstance(event, events.StepApplied) and event.name in self.indexes:
                # Progress stops being reported with the build itself: its step applied says it is over.
                self.indexes[event.name]["finished"] = True
            elif isinstance(event, events.LargeObjectsProgress):
                self.large_objects = {"done": event.done, "total": event.total, "bytesDone": event.bytes_done,
                                      "bytesTotal": event.bytes_total}
            elif isinstance(event, TablesToVerify):
                self.tables_to_verify, self.tables_verified = event.tables, 0
            elif isinstance(event, TableVerified):
                self.tables_verified += 1
            elif isinstance(event, events.Notice):
                self.notices.append({"level": event.level, "message": event.message, "details": event.details})
                del self.notices[:-50]

    def overall_rate(self) -> float:
        """Rows per second over the whole data phase so far, finished tables included."""
        with self._lock:
            if self.data_started is None:
                return 0.0
            elapsed = time.monotonic() - self.data_started
            rows = sum(t.rows_done for t in self.tables.values())
            return rows / elapsed if elapsed > 0 else 0.0

    def sync_progress(self) -> tuple[int | None, list[TableSynced], list[CatchUpRound]]:
        """The running sync's table count, the tables it finished (in order) and a catch-up's rounds so far."""
        with self._lock:
            return self.tables_to_sync, list(self.synced), list(self.rounds)

    def table(self, name: str) -> TableLive | None:
        with self._lock:
            live = self.tables.get(name)
            return None if live is None else TableLive(**live.__dict__)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "phase": self.phase,
                "indexes": {name: dict(build) for name, build in self.indexes.items()},
                "largeObjects": self.large_objects,
                "notices": list(self.notices),
                "elapsedSeconds": round(time.monotonic() - self.started, 1),
                "verifyProgress": None if self.tables_to_verify is None else {
                    "tablesChecked": self.tables_verified, "tablesTotal": self.tables_to_verify,
                },
                "replication": [dict(r) for r in self.replication],
                "replicationLag": None if self.replication_lag is None else dict(self.replication_lag),
            }
