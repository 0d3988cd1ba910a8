"""Follow on a migrated target (``follow_migrated``, ``pghaul follow``) on two real servers started with
wal_level = logical: a target migrated without follow starts following without a second copy — sync brings it to
the source as of the new slot's snapshot, PostgreSQL applies everything since, the cutover takes it down.

- End to end with an application writing all along: before, during and after the start; the cutover; the data
  equal (every table's rows as text, the large objects, the sequence) and nothing left on either server.
- Killed (SIGKILL, in a child process) right after the slot is created, and once the sync is done but not yet
  recorded: the rerun drops the dead slot, adopts again in one new slot, converges; none after the cutover.
  Stopped (Ctrl-C) during the sync: the error says the slot stays, keeping the source's WAL, and what to run. A
  slot removed behind pghaul's back: adopted again.
- A ``migrate --follow`` killed in its verify (the copy recorded in the slot's snapshot): ``follow`` continues it,
  subscribing without syncing.
- Refusals with nothing written to either server: a target that follows already, a migration that did not
  finish, a target pghaul did not migrate, a source that cannot publish.
- Sync in a given snapshot (``SyncOptions.snapshot_id``): the target ends as of that moment, not later.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time

import psycopg
import pytest

from pghaul.copy.snapshot import SnapshotHolder
from pghaul.engine import MigrateOptions, migrate
from pghaul.errors import Cancelled, PghaulError, SafetyError
from pghaul.events import Event, Notice, TableProgress
from pghaul.follow import (
    FollowBlocker,
    FollowNotPossible,
    FollowOptions,
    FollowStartChosen,
    FollowState,
    ObjectAction,
    ReplicationObject,
    ReplicationObjectChanged,
    StartKind,
    TableReplicationState,
    finish_follow,
    follow_migrated,
    follow_status,
    stop_follow,
)
from pghaul.sync import SyncOptions, sync
from pghaul.sync.progress import TableSynced
from pghaul.sync.row_versions import load_baselines, snapshot_xmin
from tests import servers
from tests.conftest import run_sql
from tests.fixtures_data import database_digest
from tests.follow_helpers import (
    Writer,
    drop_replication,
    fill_app,
    large_objects,
    replication_objects,
    sequence_position,
    written_state,
)

pytest_plugins = ["tests.logical_servers"]

WITHOUT_FOLLOW = MigrateOptions(batch_size=400, workers=2)
OPTIONS = FollowOptions(workers=2)


def nothing_left(source_url: str, target_url: str) -> None:
    assert replication_objects(source_url, server_wide=False) == ([], [], [])
    assert replication_objects(target_url, server_wide=False) == ([], [], [])


def slot_of(url: str) -> tuple[str, str]:
    """The one slot of the database (never an orphan beside it): its name and where its changes begin."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT slot_name, confirmed_flush_lsn::text FROM pg_replication_slots"
                            " WHERE database = current_database()").fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def wait_for_row(url: str, query: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(url, autocommit=True) as conn:
            if conn.execute(query).fetchone()[0]:  # type: ignore[index, arg-type]
                return
        assert time.monotonic() < deadline, f"not applied in {timeout} s: {query}"
        time.sleep(0.2)


def cut_over_and_compare(source_url: str, target_url: str) -> None:
    report = finish_follow(source_url, target_url)
    assert report.ok, report.verify.differences() if report.verify else report.notices
    assert report.teardown is not None and set(report.teardown.dropped) == set(ReplicationObject)
    assert database_digest(target_url) == database_digest(source_url)
    assert large_objects(target_url) == large_objects(source_url)
    assert sequence_position(target_url) == sequence_position(source_url)
    nothing_left(source_url, target_url)


# --- end to end --------------------------------------------------------------------------------------------------


def test_a_migrated_target_follows_without_a_second_copy_then_cuts_over(logical_source_url: str,
                                                                       logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source)
    assert migrate(source, target, WITHOUT_FOLLOW).ok
    nothing_left(source, target)
    events: list[Event] = []
    with Writer(source) as app:
        app.wait_for(40)  # the source moves on after the migration: the target falls behind
        before = app.committed
        result = follow_migrated(source, target, OPTIONS, listener=events.append)  # the app writes meanwhile
        during = app.committed - before
        assert result.follow.start is StartKind.ADOPT and result.follow.subscription is ObjectAction.CREATED
        assert result.follow.consistent_lsn and result.follow.tables == 6 and result.earlier_dropped == ()
        assert result.sync is not None and result.sync.rows_changed > 0  # what the app wrote since the migration
        assert result.sync.tables_created == [] and len(result.sync.tables) == 6
        chosen = [e for e in events if isinstance(e, FollowStartChosen)]
        assert [c.start for c in chosen] == [StartKind.ADOPT]
        made = [(e.kind, e.action) for e in events if isinstance(e, ReplicationObjectChanged)]
        assert made == [(ReplicationObject.PUBLICATION, ObjectAction.CREATED),
                        (ReplicationObject.SLOT, ObjectAction.CREATED),
                        (ReplicationObject.SUBSCRIPTION, ObjectAction.CREATED)]
        # The sync ran between the slot and the subscription, in the slot's snapshot.
        kinds = [type(e).__name__ for e in events]
        assert kinds.index("ReplicationObjectChanged") < kinds.index("TablesToSync") < kinds.index("SyncFinished")
        app.wait_for(40)  # and goes on writing: PostgreSQL applies it
        status = follow_status(source, target)
        assert status.state is FollowState.STREAMING, status.problems
        assert status.copied and {t.state for t in status.tables} == {TableReplicationState.READY}
        run_sql(source, "INSERT INTO tag VALUES ('written while following', 'x')")
        wait_for_row(target, "SELECT count(*) FROM tag WHERE name = 'written while following'")
    assert during > 0, "the app did not write while follow started"
    # The sync recorded its snapshot's xmin as the tables' baselines: a later sync starts from there.
    with psycopg.connect(target, autocommit=True) as conn:
        assert len(load_baselines(conn)) == 6
    slot_of(source)
    cut_over_and_compare(source, target)
    assert follow_status(source, target).state is FollowState.NONE


# --- kills -------------------------------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pghaul.events import PhaseFinished
    from pghaul.follow import FollowOptions, ReplicationObjectChanged, follow_migrated

    source, target, kill_at = sys.argv[1], sys.argv[2], sys.argv[3]

    def listener(event):
        hit = False
        if kill_at == "slot" and isinstance(event, ReplicationObjectChanged):
            hit = event.kind == "replication slot" and event.action == "created"
        elif kill_at == "synced" and isinstance(event, PhaseFinished):
            hit = event.phase == "sync"  # every table in the slot's snapshot, not yet recorded
        if hit:
            os.kill(os.getpid(), signal.SIGKILL)

    follow_migrated(source, target, FollowOptions(workers=2), listener=listener)
    print("finished without being killed")
    """
)


def run_and_kill(source_url: str, target_url: str, kill_at: str, program: str = CHILD) -> None:
    child = subprocess.run([sys.executable, "-c", program, source_url, target_url, kill_at],
                           capture_output=True, text=True, timeout=240, check=False)
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr


@pytest.mark.parametrize("kill_at", ["slot", "synced"])
def test_killed_before_the_sync_is_recorded_then_rerun(logical_source_url: str, logical_target_url: str,
                                                       kill_at: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=2000)
    assert migrate(source, target, WITHOUT_FOLLOW).ok
    with Writer(source) as app:
        app.wait_for(20)
        run_and_kill(source, target, kill_at)
        killed_slot = slot_of(source)  # left behind: shown, never silent
        status = follow_status(source, target)
        assert status.state is FollowState.COPYING and not status.copied and status.slot is not None
        app.wait_for(20)  # the dead slot's snapshot is gone; the app goes on

        events: list[Event] = []
        result = follow_migrated(source, target, OPTIONS, listener=events.append)
        assert result.follow.start is StartKind.ADOPT and result.follow.subscription is ObjectAction.CREATED
        assert ReplicationObject.SLOT in result.earlier_dropped  # the dead slot, dropped first
        assert any(isinstance(e, Notice) and e.level == "warning" and "earlier start" in e.message for e in events)
        new_slot = slot_of(source)  # one slot: the same name, a new one
        assert new_slot[0] == killed_slot[0] and new_slot[1] != killed_slot[1]
        app.wait_for(20)
    cut_over_and_compare(source, target)


def test_a_stopped_start_says_the_slot_stays_and_the_rerun_adopts_again(logical_source_url: str,
                                                                       logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=500)
    assert migrate(source, target, WITHOUT_FOLLOW).ok
    run_sql(source, "UPDATE account SET balance = balance + 1 WHERE id % 3 = 0")
    cancel = threading.Event()
    events: list[Event] = []

    def listener(event: Event) -> None:
        events.append(event)
        if isinstance(event, TableSynced):
            cancel.set()  # Ctrl-C in the middle of the sync, in the slot's snapshot

    with pytest.raises(Cancelled) as caught:
        follow_migrated(source, target, FollowOptions(workers=1), listener=listener, cancel=cancel)
    hint = caught.value.hint
    assert "replication slot" in hint and "keeping the source's WAL" in hint and "disk fills" in hint
    assert "run the same `pghaul follow` again" in hint and "pghaul cleanup" in hint
    assert any(isinstance(e, Notice) and e.level == "warning" and "may remain on the source" in e.message
               for e in events)
    assert follow_status(source, target).state is FollowState.COPYING
    slot_of(source)
    result = follow_migrated(source, target, OPTIONS)
    assert result.follow.start is StartKind.ADOPT and ReplicationObject.SLOT in result.earlier_dropped
    cut_over_and_compare(source, target)


def test_a_slot_removed_behind_pghaul_s_back_is_replaced_by_adopting_again(logical_source_url: str,
                                                                          logical_target_url: str) -> None:
    """A platform dropping an idle slot (or someone by hand) after the subscription went too: the changes since
    cannot be replayed, but sync needs no replay — follow starts again in a new slot's snapshot."""
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=300)
    assert migrate(source, target, WITHOUT_FOLLOW).ok
    follow_migrated(source, target, OPTIONS)
    drop_replication(target)  # the subscription, by hand
    drop_replication(source)  # the slot
    run_sql(source, "UPDATE account SET balance = balance - 1 WHERE id % 5 = 0")  # decoded by no slot
    events: list[Event] = []
    result = follow_migrated(source, target, OPTIONS, listener=events.append)
    assert result.follow.start is StartKind.ADOPT and result.sync is not None and result.sync.rows_updated > 0
    assert any(isinstance(e, Notice) and "is gone: the changes since cannot be replayed" in e.message for e in events)
    cut_over_and_compare(source, target)


MIGRATE_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pghaul.engine import MigrateOptions, migrate
    from pghaul.events import PhaseStarted

    def listener(event):
        if isinstance(event, PhaseStarted) and event.phase == "verify":
            os.kill(os.getpid(), signal.SIGKILL)

    migrate(sys.argv[1], sys.argv[2], MigrateOptions(follow=True, batch_size=400, workers=2), listener=listener)
    """
)


def test_a_migrate_with_follow_killed_in_its_verify_is_continued_without_syncing(
    logical_source_url: str, logical_target_url: str
) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=500)
    with Writer(source) as app:
        app.wait_for(10)
        run_and_kill(source, target, "verify", MIGRATE_CHILD)
        status = follow_status(source, target)
        assert status.state is FollowState.COPYING and status.copied  # the copy is complete in the slot's snapshot
        slot = slot_of(source)
        app.wait_for(20)
        result = follow_migrated(source, target, OPTIONS)
        assert result.follow.start is StartKind.CONTINUE and result.sync is None
        assert result.follow.subscription is ObjectAction.CREATED and slot_of(source)[0] == slot[0]
        app.wait_for(20)
    cut_over_and_compare(source, target)


# --- refusals, nothing written -----------------------------------------------------------------------------------


def test_a_target_that_follows_already_is_refused(logical_source_url: str, logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=100)
    assert migrate(source, target, MigrateOptions(follow=True)).ok
    before = written_state(source, target)
    with pytest.raises(SafetyError) as refused:
        follow_migrated(source, target, OPTIONS)
    assert "follows the source already (follow: streaming" in refused.value.message
    assert "nothing was written" in refused.value.message and "stop-follow" in refused.value.hint
    assert "may remain" not in refused.value.hint  # the slot is the following target's, not a leftover
    assert written_state(source, target) == before
    stop_follow(source, target)
    nothing_left(source, target)


def test_a_migration_that_did_not_finish_is_refused(logical_source_url: str, logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source)
    cancel = threading.Event()

    def listener(event: Event) -> None:
        if isinstance(event, TableProgress):
            cancel.set()

    with pytest.raises(Cancelled):
        migrate(source, target, WITHOUT_FOLLOW, listener=listener, cancel=cancel)
    before = written_state(source, target)
    with pytest.raises(SafetyError) as refused:
        follow_migrated(source, target, OPTIONS)
    assert "stopped before it finished (in its data phase)" in refused.value.message
    assert "nothing was written" in refused.value.message and "pghaul migrate" in refused.value.hint
    assert written_state(source, target) == before


def test_a_target_pghaul_did_not_migrate_is_refused(logical_source_url: str, logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=50)
    before = written_state(source, target)
    with pytest.raises(SafetyError, match="not migrated by pghaul"):
        follow_migrated(source, target, OPTIONS)
    assert written_state(source, target) == before


def test_a_source_that_cannot_publish_is_refused_with_its_reason(replica_level_server: servers.TestServer,
                                                                 logical_target_url: str) -> None:
    source = replica_level_server.create_database("frepl")
    try:
        run_sql(source, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b');")
        assert migrate(source, logical_target_url, WITHOUT_FOLLOW).ok
        before = written_state(source, logical_target_url)
        with pytest.raises(FollowNotPossible) as refused:
            follow_migrated(source, logical_target_url, OPTIONS)
        assert FollowBlocker.WAL_LEVEL in {b.code for b in refused.value.preflight.blockers}
        assert written_state(source, logical_target_url) == before
    finally:
        drop_replication(source)
        replica_level_server.drop_database(source)


# --- sync in a given snapshot ------------------------------------------------------------------------------------


def test_sync_in_a_given_snapshot_brings_the_target_to_that_moment(logical_source_url: str,
                                                                   logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=300)
    assert migrate(source, target, WITHOUT_FOLLOW).ok
    run_sql(source, "UPDATE account SET balance = balance + 1 WHERE id % 7 = 0; DELETE FROM tag WHERE name < 'tag 2'")
    then = database_digest(source)
    holder = SnapshotHolder(source)
    try:
        xmin = snapshot_xmin(holder.conn)
        run_sql(source, "INSERT INTO tag VALUES ('after the snapshot', NULL); UPDATE account SET name = 'later'")
        report = sync(source, target, SyncOptions(workers=2, snapshot_id=holder.snapshot_id))
    finally:
        holder.close()
    assert report.rows_changed > 0
    assert database_digest(target) == then != database_digest(source)  # as of the snapshot, not later
    with psycopg.connect(target, autocommit=True) as conn:
        assert set(load_baselines(conn).values()) == {xmin}
    with pytest.raises(PghaulError, match="snapshot it was given"):  # nobody holds it any more
        sync(source, target, SyncOptions(snapshot_id=holder.snapshot_id))
    assert sync(source, target).rows_changed > 0
    assert database_digest(target) == database_digest(source)
