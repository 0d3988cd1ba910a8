"""A stop asked for during one long statement cancels that statement instead of waiting for it: an index build in
the data phase, a materialized view's refresh in the post-data phase. Nothing half-built stays, and the next run
finishes. And a pghaul process killed mid-statement does not leave the statement running on the server."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from pghaul.connect import CLIENT_CHECK_INTERVAL, connect_source, connect_target
from pghaul.engine import MigrateOptions, migrate
from pghaul.errors import Cancelled
from tests.fault_helpers import Watcher, connect, dbname, digest, fill_source
from tests.servers import TestServer

OPTIONS = MigrateOptions(workers=2, batch_size=500)
# One worker: every copy is done before the first index build (the scheduler's order), so the stop's error is the
# build's and not a copying worker's, which would stop between two chunks.
ONE_WORKER = MigrateOptions(workers=1, batch_size=500)
# Each row of the slow table costs ~2 ms in slow_key(): a build (or a refresh) of ~1.6 s, caught in flight by a
# watcher polling every 5 ms. Had the stop waited for it, it would be there at the end.
SLOW_ROWS = 800


def _running(admin_url: str, database: str, query_like: str, for_seconds: float = 0.0) -> int:
    with connect(admin_url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active'"
                           " AND query ILIKE %s AND pid <> pg_backend_pid()"
                           " AND now() - query_start >= make_interval(secs => %s)",
                           [database, query_like, for_seconds]).fetchone()
    return int(row[0]) if row else 0


def _stop_when_running(admin_url: str, database: str, query_like: str, cancel: threading.Event) -> Watcher:
    """Asks for a stop once the statement has run for 0.2 s: the real build or refresh, not the preflight's
    rehearsal of the same statement on the empty tables, which ends in milliseconds."""
    def act() -> int:
        if _running(admin_url, database, query_like, for_seconds=0.2):
            cancel.set()
            return 1
        return 0
    return Watcher(act)


def _relation_exists(url: str, name: str) -> bool:
    with connect(url) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()
    return bool(row and row[0])


def test_a_stop_during_an_index_build_cancels_the_build_and_the_rerun_builds_it(
        pg18: TestServer, source_url: str, target_url: str) -> None:
    fill_source(source_url, 2_000, slow_index_rows=SLOW_ROWS)
    cancel = threading.Event()
    stop = _stop_when_running(pg18.admin_url, dbname(target_url), '%CREATE INDEX "slow_by_key"%', cancel)
    with stop, pytest.raises(Cancelled) as stopped:
        migrate(source_url, target_url, ONE_WORKER, cancel=cancel)
    assert stop.hits == 1 and stop.error is None, "the index build was not caught in flight"
    assert "was cancelled before it finished" in stopped.value.message and "slow_by_key" in stopped.value.message
    assert stopped.value.hint
    assert not _relation_exists(target_url, "public.slow_by_key"), "the stop waited for the build to finish"
    assert _running(pg18.admin_url, dbname(target_url), "%CREATE INDEX%") == 0

    result = migrate(source_url, target_url, OPTIONS)
    assert result.ok, result.verify_report.differences() if result.verify_report else "no report"
    assert _relation_exists(target_url, "public.slow_by_key")
    assert digest(target_url) == digest(source_url)


def test_a_stop_during_a_refresh_in_the_post_data_phase_cancels_it(
        pg18: TestServer, source_url: str, target_url: str) -> None:
    fill_source(source_url, 2_000, slow_index_rows=SLOW_ROWS)
    with connect(source_url) as conn:
        conn.execute("DROP INDEX slow_by_key")
        conn.execute("CREATE MATERIALIZED VIEW slow_keys AS SELECT slow_key(id) AS k FROM slow")
    cancel = threading.Event()
    stop = _stop_when_running(pg18.admin_url, dbname(target_url), "%REFRESH MATERIALIZED VIEW%slow_keys%", cancel)
    with stop, pytest.raises(Cancelled) as stopped:
        migrate(source_url, target_url, OPTIONS, cancel=cancel)
    assert stop.hits == 1 and stop.error is None, "the refresh was not caught in flight"
    assert "the post-data phase was cancelled before it finished" in stopped.value.message
    with connect(target_url) as conn:
        populated = conn.execute("SELECT relispopulated FROM pg_class WHERE oid = 'public.slow_keys'::regclass")
        assert populated.fetchone() == (False,), "the stop waited for the refresh to finish"

    result = migrate(source_url, target_url, OPTIONS)
    assert result.ok, result.verify_report.differences() if result.verify_report else "no report"
    with connect(target_url) as conn:
        assert conn.execute("SELECT count(*) FROM slow_keys").fetchone() == (SLOW_ROWS,)


def test_every_session_asks_the_server_to_end_its_statement_once_pghaul_is_gone(
        source_url: str, target_url: str) -> None:
    for open_session in (connect_source, connect_target):
        url = source_url if open_session is connect_source else target_url
        with open_session(url) as conn:
            assert conn.execute("SHOW client_connection_check_interval").fetchone() == (CLIENT_CHECK_INTERVAL,)


def test_a_killed_pghaul_leaves_no_statement_running_on_the_target(pg18: TestServer, target_url: str) -> None:
    """A process killed with SIGKILL sends nothing: the server notices the closed socket within the interval and
    ends the statement (here a sleep of ten minutes), as it would an hour-long index build."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pghaul.connect import connect_target;"
         " connect_target(sys.argv[1]).execute('SELECT pg_sleep(600)')", target_url])
    try:
        deadline = time.monotonic() + 30
        while not _running(pg18.admin_url, dbname(target_url), "%pg_sleep(600)%"):
            assert time.monotonic() < deadline and child.poll() is None, "the statement never started"
            time.sleep(0.05)
    finally:
        child.kill()
        child.wait()
    deadline = time.monotonic() + 60  # twelve times the interval: a bound that only a statement left running meets
    while _running(pg18.admin_url, dbname(target_url), "%pg_sleep(600)%"):
        assert time.monotonic() < deadline, "the statement went on after pghaul was killed"
        time.sleep(0.2)
