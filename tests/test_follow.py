"""Follow end to end on two real servers started with wal_level = logical: an application writes to the source
during ``migrate`` with follow, PostgreSQL's own replication carries its changes, the cutover waits for zero lag,
sets sequences and large objects, verifies, and takes follow down — nothing left on either side.

Equality is checked independently of pghaul's verify: every table's rows as text, the large objects' bytes, the
sequence's position.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from pghaul.engine import MigrateOptions, cleanup, migrate
from pghaul.errors import Cancelled, SafetyError
from pghaul.events import Event, TableProgress
from pghaul.follow import (
    FollowState,
    ObjectAction,
    ReplicationCatchUp,
    ReplicationObject,
    StartKind,
    TableReplicationState,
    finish_follow,
    follow_status,
    stop_follow,
)
from tests.fixtures_data import database_digest, has_state_schema
from tests.follow_helpers import Writer, fill_app, large_objects, replication_objects, sequence_position

pytest_plugins = ["tests.logical_servers"]

OPTIONS = MigrateOptions(follow=True, batch_size=400, workers=2)


def nothing_left(source_url: str, target_url: str) -> None:
    assert replication_objects(source_url, server_wide=False) == ([], [], [])
    assert replication_objects(target_url, server_wide=False) == ([], [], [])


def wait_until(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_writer_during_migrate_with_follow_then_cutover(logical_source_url: str, logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source)
    events: list[Event] = []
    with Writer(source) as app:
        app.wait_for(20)
        result = migrate(source, target, OPTIONS, listener=events.append)
        assert result.ok, result.verify_report.differences()  # verified against the copy's snapshot
        assert result.follow is not None and result.follow.start is StartKind.FRESH
        assert result.follow.subscription is ObjectAction.CREATED and result.follow.consistent_lsn
        during_copy = app.committed
        app.wait_for(30)  # and the app goes on writing while the target follows
        status = follow_status(source, target)
        assert status.state is FollowState.STREAMING, status.problems
        assert {t.state for t in status.tables} == {TableReplicationState.READY}
        assert len(status.tables) == 4 and status.lag_bytes is not None
    assert during_copy > 0 and app.committed > during_copy

    paused = time.monotonic()
    report = finish_follow(source, target, writes_paused_at=paused, listener=events.append)
    assert report.ok, report.verify.differences() if report.verify else report.notices
    assert report.catch_up is not None and report.instructions is not None
    assert 0 < report.write_freeze_seconds < 60
    assert set(report.teardown.dropped) == set(ReplicationObject) if report.teardown else False
    assert any(isinstance(e, ReplicationCatchUp) and e.reached for e in events)

    assert database_digest(target) == database_digest(source)
    assert large_objects(target) == large_objects(source) and len(large_objects(source)) > 1
    assert sequence_position(target) == sequence_position(source)
    nothing_left(source, target)
    assert follow_status(source, target).state is FollowState.NONE
    # The next inserts on the target (the app, switched) do not collide with copied or replicated rows.
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("INSERT INTO account (name) VALUES ('first write after the switch')")


def test_cleanup_given_both_urls_removes_follow_on_both_sides(logical_source_url: str,
                                                               logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=200)
    migrate(source, target, OPTIONS)
    assert replication_objects(source, server_wide=False)[0]  # a slot, keeping the source's WAL
    before = (replication_objects(source, server_wide=False), replication_objects(target, server_wide=False))
    # Without the source, dropping pghaul's record would forget that slot: refused, nothing changed.
    with pytest.raises(SafetyError, match="slot"):
        cleanup(target)
    with pytest.raises(SafetyError, match="slot"):
        cleanup(target, "")
    assert (replication_objects(source, server_wide=False), replication_objects(target, server_wide=False)) == before
    assert has_state_schema(target)
    assert cleanup(target, source)
    nothing_left(source, target)
    assert not has_state_schema(target)


def test_stop_follow_drops_everything_and_leaves_the_rows(logical_source_url: str, logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=200)
    migrate(source, target, OPTIONS)
    report = stop_follow(source, target)
    assert set(report.dropped) == set(ReplicationObject)
    nothing_left(source, target)
    assert database_digest(target) == database_digest(source)
    assert stop_follow(source, target).dropped == ()  # again: nothing to do, nothing fails


def test_a_cancelled_copy_says_the_slot_stays_and_the_rerun_starts_again(
    logical_source_url: str, logical_target_url: str
) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source)
    cancel = threading.Event()

    def listener(event: Event) -> None:
        if isinstance(event, TableProgress):
            cancel.set()

    with pytest.raises(Cancelled) as caught:
        migrate(source, target, OPTIONS, listener=listener, cancel=cancel)
    assert "replication slot" in caught.value.hint and "WAL" in caught.value.hint
    assert follow_status(source, target).state is FollowState.COPYING
    result = migrate(source, target, OPTIONS)
    assert result.ok and result.follow is not None and result.follow.start is StartKind.RESTART
    report = finish_follow(source, target)
    assert report.ok
    assert database_digest(target) == database_digest(source)
    nothing_left(source, target)


def test_cutover_without_follow_is_refused_before_any_write(logical_source_url: str,
                                                            logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=50)
    migrate(source, target, MigrateOptions())
    with pytest.raises(SafetyError, match="does not follow"):
        finish_follow(source, target)
    nothing_left(source, target)
