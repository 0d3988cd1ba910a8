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
from pghaul.engine.freeze import unfreeze_source
from pghaul.errors import Cancelled, SafetyError
from pghaul.events import Event, TableProgress
from pghaul.follow import (
    FollowCutoverOptions,
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
from tests import servers
from tests.fixtures_data import database_digest, has_state_schema
from tests.follow_helpers import (
    Writer,
    drop_replication,
    fill_app,
    large_objects,
    replication_objects,
    sequence_position,
)

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
        assert len(status.tables) == 6 and status.lag_bytes is not None  # the partitions' leaves
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


def _job_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM pghaul.jobs").fetchone()[0])  # type: ignore[index]


def test_stop_follow_drops_everything_and_leaves_the_rows(logical_source_url: str, logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=200)
    migrate(source, target, OPTIONS)
    # A migration without follow would leave the slot behind: the engine refuses it before writing anything.
    before = (database_digest(target), _job_rows(target))
    with pytest.raises(SafetyError, match="earlier migration with follow") as refused:
        migrate(source, target, MigrateOptions())
    assert "stop-follow" in refused.value.hint
    assert (database_digest(target), _job_rows(target)) == before
    assert follow_status(source, target).state is FollowState.STREAMING
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


def test_source_and_target_on_one_cluster_with_a_frozen_source(logical_source_server: servers.TestServer,
                                                               logical_source_url: str) -> None:
    """Both databases on one server: the subscription must not create its slot in its own CREATE SUBSCRIPTION
    (it would wait for itself), which create_slot = false avoids. The cutover freezes the source: its client
    sessions end, the subscription's WAL sender does not, and the target still catches up."""
    source = logical_source_url
    target = logical_source_server.create_database("fsame")
    try:
        fill_app(source, accounts=500)
        with Writer(source) as app:
            result = migrate(source, target, OPTIONS)
            assert result.ok and result.follow is not None
            app.wait_for(20)
        target_side = follow_status(None, target)  # a shell that knows only the target
        assert target_side.state is FollowState.STREAMING and not target_side.source_known
        assert target_side.lag_bytes is None and target_side.subscription is not None
        # With the rows left to migrate's verification and replication, the window compares the schema only.
        report = finish_follow(source, target, FollowCutoverOptions(freeze_source=True, verify_rows=False))
        assert report.ok and report.freeze is not None and report.verify is not None
        assert not report.verify.tables and report.notices
        assert database_digest(target) == database_digest(source)
        nothing_left(source, target)
    finally:
        unfreeze_source(source)
        drop_replication(target)
        logical_source_server.drop_database(target)


def test_follow_from_postgresql_15_into_18(logical_pg15_server: servers.TestServer, logical_target_url: str) -> None:
    source = logical_pg15_server.create_database("f15")
    try:
        fill_app(source, accounts=500)
        with Writer(source) as app:
            result = migrate(source, logical_target_url, OPTIONS)
            assert result.ok and result.follow is not None
            app.wait_for(20)
        assert finish_follow(source, logical_target_url).ok
        assert database_digest(logical_target_url) == database_digest(source)
        assert sequence_position(logical_target_url) == sequence_position(source)
        nothing_left(source, logical_target_url)
    finally:
        drop_replication(source)
        logical_pg15_server.drop_database(source)


def test_sync_refuses_a_following_target_then_takes_over_after_stop_follow(logical_source_url: str,
                                                                           logical_target_url: str) -> None:
    """PostgreSQL's replication writes into a following target: sync must not write there too, until follow is
    given up; then sync brings over what changed since."""
    from pghaul.sync import sync

    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=200)
    migrate(source, target, OPTIONS)
    with pytest.raises(SafetyError) as refused:
        sync(source, target)
    assert "follows the source" in refused.value.message and "stop-follow" in refused.value.hint
    stop_follow(source, target)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("UPDATE account SET name = 'after follow' WHERE id % 10 = 0")
    report = sync(source, target)
    assert report.rows_updated > 0
    assert database_digest(target) == database_digest(source)


def test_the_sync_cutover_refuses_a_following_target_before_freezing_the_source(logical_source_url: str,
                                                                                logical_target_url: str) -> None:
    from pghaul.engine.cutover import finish
    from pghaul.engine.freeze import freeze_status

    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=50)
    migrate(source, target, OPTIONS)
    with pytest.raises(SafetyError, match="follows the source"):
        finish(source, target, freeze=True)
    with psycopg.connect(source) as conn:
        assert freeze_status(conn) is False
    stop_follow(source, target)
