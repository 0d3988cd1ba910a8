"""What the fault scenarios count for one migration under faults: it ends verified by pghaul's retries alone, or it
stops with a clear error (a ``PghaulError``: one message, one hint) and a plain rerun finishes it; either way the
rows are then compared with a digest read without pghaul. Anything else is a mismatch."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg


def judge(source_url: str, target_url: str, faulted: Callable[[], Any]) -> Counter[str]:
    """Run ``faulted`` (the migration under faults), rerun it plainly if it stopped, compare the rows."""
    from tests.fault_helpers import digest

    from pghaul.engine import migrate
    from pghaul.errors import PghaulError

    figures: Counter[str] = Counter(runs=1)
    try:
        ok = bool(faulted().ok) and _job_done(target_url)
    except PghaulError as exc:
        figures["stopped"] += 1
        print(f"stopped with: {exc}", file=sys.stderr)
        ok = bool(_when_up(lambda: migrate(source_url, target_url)).ok)
        figures["reruns_verified"] += int(ok)
    except Exception as exc:  # not one clear line: a finding even if a rerun would finish
        figures["unclear_errors"] += 1
        print(f"stopped with an unclear error: {type(exc).__name__}: {exc}", file=sys.stderr)
        ok = False
    expected, got = _when_up(lambda: digest(source_url)), _when_up(lambda: digest(target_url))
    figures["rows_checked"] += sum(n for name, (n, _) in expected.items() if not name.startswith("sequence"))
    figures["tables_checked"] += len(expected)
    figures["mismatches"] += int(not ok or expected != got)
    return figures


def _job_done(target_url: str) -> bool:
    from tests.fault_helpers import connect

    from pghaul.engine.jobs import read_status

    with connect(target_url) as conn:
        return read_status(conn).state == "done"


def _when_up(call: Callable[[], Any]) -> Any:
    """``call``, once the server answers again (a restart may still be under way)."""
    import time

    from pghaul.errors import ConnectionFailed

    for _ in range(60):
        try:
            return call()
        except (psycopg.OperationalError, ConnectionFailed):
            time.sleep(0.5)
    return call()
