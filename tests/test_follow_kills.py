"""pghaul killed (SIGKILL, no cleanup of any kind) while following, then run again: it converges — the target ends
equal to the source, nothing lost or doubled — and no slot is left once the cutover completes.

- During the bulk copy: the slot's exported snapshot dies with the process. The rerun drops that slot, empties the
  tables the killed run filled (its checkpoints account for every row) and copies again in a new slot's snapshot.
- After the copy, before the subscription (during post-data): the copy is complete in the snapshot of the slot
  still there, which kept every change since; the rerun copies nothing and subscribes from that slot.
- During follow (the subscription just created): PostgreSQL keeps applying without pghaul; the rerun finds the
  copy complete in the snapshot of the slot still there and copies nothing.
- During the cutover's wait for zero lag: replication keeps running; the cutover run again finishes.

An application writes to the source all along. The kill happens in a child process whose listener kills itself at
an exact event, as in ``test_resume.py``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import psycopg

from pghaul.engine import MigrateOptions, migrate
from pghaul.engine.jobs import read_status
from pghaul.follow import FollowState, ObjectAction, StartKind, finish_follow, follow_status
from tests.fixtures_data import database_digest
from tests.follow_helpers import Writer, fill_app, large_objects, replication_objects, sequence_position

pytest_plugins = ["tests.logical_servers"]

OPTIONS = MigrateOptions(follow=True, batch_size=200, workers=2)

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pghaul import events
    from pghaul.engine import MigrateOptions, migrate
    from pghaul.follow import ReplicationObjectChanged, ReplicationCatchUp, finish_follow

    source, target, kill_at = sys.argv[1], sys.argv[2], sys.argv[3]
    seen = {"progress": 0}

    def listener(event):
        hit = False
        if kill_at == "bulk-copy" and isinstance(event, events.TableProgress):
            seen["progress"] += 1
            hit = seen["progress"] == 6
        elif kill_at == "post-data" and isinstance(event, events.StepApplied) and event.phase == "post-data":
            hit = event.kind == "foreign key"
        elif kill_at == "follow" and isinstance(event, ReplicationObjectChanged):
            hit = event.kind == "subscription" and event.action == "created"
        elif kill_at == "cutover" and isinstance(event, ReplicationCatchUp):
            hit = True
        if hit:
            os.kill(os.getpid(), signal.SIGKILL)

    if kill_at == "cutover":
        finish_follow(source, target, listener=listener)
    else:
        migrate(source, target, MigrateOptions(follow=True, batch_size=200, workers=2), listener=listener)
    print("finished without being killed")
    """
)


def run_and_kill(source_url: str, target_url: str, kill_at: str) -> None:
    child = subprocess.run([sys.executable, "-c", CHILD, source_url, target_url, kill_at],
                           capture_output=True, text=True, timeout=240, check=False)
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr


def slot_of(url: str) -> tuple[str, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT slot_name, confirmed_flush_lsn::text FROM pg_replication_slots"
                            " WHERE database = current_database()").fetchall()
    assert len(rows) == 1, rows  # one slot, never an orphan beside it
    return rows[0]


def copied_rows(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(sum(rows_copied), 0) FROM pghaul.checkpoints").fetchone()
    return int(row[0]) if row else 0


def cut_over_and_compare(source_url: str, target_url: str) -> None:
    report = finish_follow(source_url, target_url)
    assert report.ok, report.verify.differences() if report.verify else report.notices
    assert database_digest(target_url) == database_digest(source_url)
    assert large_objects(target_url) == large_objects(source_url)
    assert sequence_position(target_url) == sequence_position(source_url)
    assert replication_objects(source_url, server_wide=False) == ([], [], [])
    assert replication_objects(target_url, server_wide=False) == ([], [], [])


def test_killed_during_the_bulk_copy_then_rerun(logical_source_url: str, logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=4000)
    with Writer(source) as app:
        app.wait_for(10)
        run_and_kill(source, target, "bulk-copy")
        killed_slot = slot_of(source)
        assert 0 < copied_rows(target) < 4000 * 3  # part of the rows, read in a snapshot that is gone now
        with psycopg.connect(target, autocommit=True) as conn:
            assert read_status(conn).state == "failed"
        status = follow_status(source, target)
        assert status.state is FollowState.COPYING and status.slot is not None  # the slot shows, never silently
        app.wait_for(20)

        result = migrate(source, target, OPTIONS)
        assert result.ok, result.verify_report.differences()
        assert result.follow is not None and result.follow.start is StartKind.RESTART
        assert result.rows_copied >= 4000 * 3  # every table copied again, in the new slot's snapshot
        new_slot = slot_of(source)
        assert new_slot[0] == killed_slot[0] and new_slot[1] != killed_slot[1]  # the same name, a new slot
        app.wait_for(20)
    cut_over_and_compare(source, target)


def test_killed_between_the_copy_and_the_subscription_then_rerun(logical_source_url: str,
                                                                 logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=2000)
    with Writer(source) as app:
        app.wait_for(10)
        run_and_kill(source, target, "post-data")
        assert follow_status(source, target).state is FollowState.COPYING
        copied = copied_rows(target)
        app.wait_for(30)  # changes pile up in the slot, applied by nobody yet
        result = migrate(source, target, OPTIONS)
        assert result.ok
        assert result.follow is not None and result.follow.start is StartKind.CONTINUE
        assert result.follow.subscription is ObjectAction.CREATED
        assert result.rows_copied == 0 and copied_rows(target) == copied
        app.wait_for(20)
    cut_over_and_compare(source, target)


def test_killed_during_follow_and_during_the_cutover_then_rerun(logical_source_url: str,
                                                                  logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=2000)
    with Writer(source) as app:
        app.wait_for(10)
        run_and_kill(source, target, "follow")
        # pghaul is gone; PostgreSQL goes on applying what the app writes.
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute("INSERT INTO tag VALUES ('written after the kill', 'x')")
        deadline = time.monotonic() + 30
        while True:
            with psycopg.connect(target, autocommit=True) as conn:
                if conn.execute("SELECT count(*) FROM tag WHERE name = 'written after the kill'").fetchone()[0]:
                    break
            assert time.monotonic() < deadline, "the subscription did not apply without pghaul"
            time.sleep(0.2)
        assert follow_status(source, target).state is FollowState.STREAMING
        copied = copied_rows(target)

        result = migrate(source, target, OPTIONS)
        assert result.ok
        assert result.follow is not None and result.follow.start is StartKind.CONTINUE
        assert result.follow.subscription is ObjectAction.REUSED
        assert result.rows_copied == 0 and copied_rows(target) == copied  # nothing copied again
        slot_of(source)
        app.wait_for(20)
    run_and_kill(source, target, "cutover")
    assert follow_status(source, target).state is FollowState.STREAMING  # the killed cutover changed nothing
    cut_over_and_compare(source, target)
