"""A migration killed with SIGKILL at any point, then run again, ends equal to the source with no duplicates.

The run to kill happens in a child process whose listener kills its own process at a chosen event, so the
kill point is exact (no sleeps, no races with the clock).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import psycopg
import pytest

from pghaul.engine import MigrateOptions, migrate
from pghaul.engine.jobs import read_status
from tests.fixtures_data import KEY_TABLES, SEQUENCE_TABLES, STRUCTURE_TABLES, database_digest, fill

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pghaul import events
    from pghaul.engine import MigrateOptions, migrate

    source, target, kill_at, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    seen = {"progress": 0}

    def listener(event):
        hit = False
        if kill_at == "during-table" and isinstance(event, events.TableProgress):
            seen["progress"] += 1
            hit = seen["progress"] == 5
        elif kill_at == "between-tables" and isinstance(event, events.TableFinished):
            hit = True
        elif kill_at == "post-data" and isinstance(event, events.StepApplied) and event.phase == "post-data" \\
                and event.kind == "foreign key":
            hit = True
        if hit:
            os.kill(os.getpid(), signal.SIGKILL)

    migrate(source, target, MigrateOptions(batch_size=30, split_rows=100, workers=workers, verify=False),
            listener=listener)
    print("finished without being killed")
    """
)


def _run_and_kill(source_url: str, target_url: str, kill_at: str, workers: int) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, source_url, target_url, kill_at, str(workers)],
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr


def _copied_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(sum(rows_copied), 0) FROM pghaul.checkpoints").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize(
    ("kill_at", "workers"), [("during-table", 2), ("between-tables", 1), ("post-data", 2)]
)
def test_killed_run_then_rerun_is_equal_without_duplicates(
    source_url: str, target_url: str, kill_at: str, workers: int
) -> None:
    fill(source_url, KEY_TABLES, SEQUENCE_TABLES, STRUCTURE_TABLES)
    before = database_digest(source_url)
    _run_and_kill(source_url, target_url, kill_at, workers)

    with psycopg.connect(target_url, autocommit=True) as conn:
        status = read_status(conn)
    assert status.state == "failed" and "interrupted" in (status.error or "")
    copied_before = _copied_rows(target_url)
    assert copied_before > 0

    result = migrate(source_url, target_url, MigrateOptions(batch_size=30, split_rows=100, workers=2))
    assert result.ok, result.verify_report.differences() if result.verify_report else result.notices
    assert database_digest(target_url) == before  # equal content; counts equal, so no duplicates either
    assert database_digest(source_url) == before
    total = sum(count for name, (count, _) in before.items() if name != "public.animal_names")
    # Every row was copied exactly once over the two runs.
    assert _copied_rows(target_url) == total
    assert copied_before + result.rows_copied == total
    if kill_at != "post-data":
        assert result.resumed and not result.snapshot_reused
        assert any("snapshot" in n for n in result.notices)
    with psycopg.connect(target_url, autocommit=True) as conn:
        assert read_status(conn).state == "done"
