"""The one-batch endpoint (``pghaul.copy.batch.move_batch``) walked across a whole table: does the last batch
cost what the first one does? Keyset pages should; OFFSET pages would not."""

from __future__ import annotations

import inspect
import statistics
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.dataset import PROBE_TABLE, SCHEMA

BATCH_ROWS = 1000
EDGE_BATCHES = 5  # medians over this many batches at each end smooth out single hiccups
CURSOR_KEY = b"pghaul-benchmark-cursor-key"


@dataclass(frozen=True)
class BatchLatency:
    batches: int
    first_ms: float
    last_ms: float

    @property
    def ratio(self) -> float:
        return self.last_ms / self.first_ms if self.first_ms else float("nan")


def batch_problem() -> str | None:
    try:
        from pghaul.copy.batch import move_batch  # noqa: F401
        from pghaul.inspect import inspect_catalog  # noqa: F401
    except Exception as exc:
        return f"pghaul.copy.batch.move_batch is not available yet ({type(exc).__name__}: {exc})"
    return None


def measure(source_url: str, target_url: str, rows: int) -> BatchLatency:
    from pghaul.connect import connect_source, connect_target
    from pghaul.copy.batch import move_batch
    from pghaul.inspect import inspect_catalog

    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        table = _probe_table(inspect_catalog(src))
        extra: dict[str, object] = {}
        if "target_table" in inspect.signature(move_batch).parameters:
            # The HTTP endpoint passes the target's table too, which lets move_batch use binary COPY.
            extra["target_table"] = _probe_table(inspect_catalog(tgt))
        cursor: str | None = None
        timings: list[float] = []
        limit = rows // BATCH_ROWS + 10  # a cursor that never ends is a bug to report, not to wait for
        while len(timings) < limit:
            started = time.perf_counter()
            result = move_batch(src, tgt, table, cursor, BATCH_ROWS, cursor_key=CURSOR_KEY, **extra)
            timings.append(time.perf_counter() - started)
            if not result.has_more:
                break
            cursor = result.next_cursor
        else:
            raise RuntimeError(f"move_batch still had more after {limit} batches of {BATCH_ROWS} on {rows} rows")
    edge = min(EDGE_BATCHES, max(1, len(timings) // 2))
    return BatchLatency(
        batches=len(timings),
        first_ms=statistics.median(timings[:edge]) * 1000,
        last_ms=statistics.median(timings[-edge:]) * 1000,
    )


def _probe_table(catalog: Any) -> Any:
    return next(t for t in catalog.tables.values() if (t.schema, t.name) == (SCHEMA, PROBE_TABLE))
