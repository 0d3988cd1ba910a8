"""Faults under a migration, on real servers: pghaul's sessions ended with ``pg_terminate_backend`` while it copies,
builds an index and verifies; the target server restarted mid-copy; the target's own timeouts and a lock held by
someone else; the target out of temporary file space. Each run must end verified with every row there once (a
digest computed here, not by pghaul), the retry said in progress — or stop with one clear error, leave nothing
half-written, and be finished by a rerun. The long, randomised runs are in ``reliability/``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from pghaul import events
from pghaul.engine import MigrateOptions, RetryPolicy, migrate
from pghaul.engine.apply import StepFailed
from pghaul.engine.jobs import read_status
from pghaul.engine.retry import ConnectionLost, transient_reason
from pghaul.errors import Cancelled, ConnectionFailed, PghaulError, SafetyError
from pghaul.sync.progress import TablesToSync
from pghaul.verify.progress import TableVerified
from tests.fault_helpers import Watcher, connect, dbname, digest, fill_source, restart, terminate_pghaul
from tests.servers import TestServer

# Quick pauses: the behaviour is the same as the default's, the suite's minutes are not.
FAST = RetryPolicy(attempts=4, first_wait=0.2, max_wait=1.0)
OPTIONS = MigrateOptions(workers=2, batch_size=500)
# A password in the target's connection string (trust authentication ignores it): no event or error may show it.
PASSWORD = "s3cr3t-fault-pw"


class Recorder:
    """The listener: every event, in order; ``on`` runs for each event, for the tests that act at a moment."""

    def __init__(self) -> None:
        self.events: list[events.Event] = []

    def __call__(self, event: events.Event) -> None:
        self.events.append(event)
        self.on(event)

    def on(self, event: events.Event) -> None:
        pass

    @property
    def retries(self) -> list[events.Retrying]:
        return [e for e in self.events if isinstance(e, events.Retrying)]

    def text(self) -> str:
        return "\n".join(repr(e.to_dict()) for e in self.events)


class EndSessionsOnceSyncStarts(Recorder):
    """Ends every pghaul session on ``databases`` once, when a sync has listed its tables; ``ended`` counts them
    (-1: there were none to end)."""

    def __init__(self, admin_url: str, databases: list[str]) -> None:
        super().__init__()
        self.admin_url, self.databases, self.ended = admin_url, databases, 0

    def on(self, event: events.Event) -> None:
        if not self.ended and isinstance(event, TablesToSync):
            self.ended = terminate_pghaul(self.admin_url, self.databases) or -1


def assert_same_rows(source_url: str, target_url: str) -> None:
    expected, got = digest(source_url), digest(target_url)
    assert got == expected


def assert_verified(result: object) -> None:
    report = getattr(result, "verify_report", None)
    assert getattr(result, "ok", False), report.differences() if report is not None else "no report"


# --- what counts as transient (no server needed) --------------------------------------------------------------------


def test_only_lost_connections_are_worth_another_run() -> None:
    ended = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    wrapped = PghaulError("could not create index public.x on the target: terminating connection", "hint")
    wrapped.__cause__ = ended  # as apply.StepFailed wraps the driver's error
    assert transient_reason(ended, connected_before=False) == "terminating connection due to administrator command"
    assert transient_reason(wrapped, connected_before=False) is not None
    assert transient_reason(psycopg.OperationalError("server closed the connection unexpectedly"), False)
    assert transient_reason(psycopg.errors.DeadlockDetected("deadlock detected"), False)
    # A server that cannot be reached: misnamed at the start, restarting once the run had reached it.
    unreachable = ConnectionFailed("cannot connect to the target database x: connection refused", "check the URL")
    assert transient_reason(unreachable, connected_before=False) is None
    assert transient_reason(unreachable, connected_before=True) is not None
    # The rehearsal folds the driver's errors into its refusal: a session ended under it is no refusal.
    rehearsal = SafetyError("2 object(s) could not be created on the target x, so nothing was written: index public.i:"
                            " terminating connection due to administrator command; index public.j: the connection"
                            " is lost", "Fix each on the target")
    assert transient_reason(rehearsal, connected_before=True) is not None
    # Refusals, bad data, the owner's limits and a cancel never are.
    for never in (SafetyError("another pghaul migration into this target is running"),
                  psycopg.errors.UniqueViolation("duplicate key"),
                  psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
                  psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
                  psycopg.errors.DiskFull("could not extend file"),
                  psycopg.errors.ConfigurationLimitExceeded("temporary file size exceeds temp_file_limit"),
                  Cancelled("stopped on request"), KeyboardInterrupt()):
        assert transient_reason(never, connected_before=True) is None, never  # type: ignore[arg-type]


# --- sessions ended while pghaul works --------------------------------------------------------------------------------


def test_sessions_ended_mid_copy_are_retried_and_nothing_is_lost_or_doubled(
        pg18: TestServer, source_url: str, target_url: str) -> None:
    fill_source(source_url, 30_000)
    ended: list[int] = []

    class KillOnce(Recorder):
        def on(self, event: events.Event) -> None:
            if not ended and isinstance(event, events.TableProgress) and event.table == "public.item" \
                    and event.rows_done >= 5_000:
                ended.append(terminate_pghaul(pg18.admin_url, [dbname(source_url), dbname(target_url)]))

    recorder = KillOnce()
    result = migrate(source_url, target_url + f" password={PASSWORD}", OPTIONS, recorder, retry=FAST)
    assert ended and ended[0] >= 2, "the copy's sessions were not found to end"
    assert_verified(result)
    assert result.resumed
    [retry] = recorder.retries
    assert retry.attempt == 1 and retry.attempts == FAST.attempts and retry.wait_seconds > 0
    assert "terminating connection" in retry.reason or "connection" in retry.reason
    assert PASSWORD not in recorder.text()
    assert_same_rows(source_url, target_url)
    with connect(target_url) as conn:
        assert read_status(conn).state == "done"


def test_an_index_build_ended_is_built_again(pg18: TestServer, source_url: str, target_url: str) -> None:
    fill_source(source_url, 2_000, slow_index_rows=400)
    recorder = Recorder()
    # Once it has run 0.2 s: the build itself, not the preflight's rehearsal of it on the empty table.
    kill_build = Watcher(lambda: terminate_pghaul(pg18.admin_url, [dbname(target_url)], '%CREATE INDEX "slow_by_key"%',
                                                  running_for=0.2))
    with kill_build:
        result = migrate(source_url, target_url, OPTIONS, recorder, retry=FAST)
    assert kill_build.error is None and kill_build.hits == 1, "the index build was not caught in flight"
    assert_verified(result)
    assert len(recorder.retries) == 1 and "could not create index public.slow_by_key" in recorder.retries[0].reason
    with connect(target_url) as conn:
        valid = conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.slow_by_key'::regclass")
        assert valid.fetchone() == (True,)
    assert_same_rows(source_url, target_url)


def test_a_comparison_cut_by_a_lost_connection_is_compared_again(
        pg18: TestServer, source_url: str, target_url: str) -> None:
    fill_source(source_url, 20_000)
    recorder = Recorder()
    # The checksum query of verify (verify/checksum.py), on either server, the first time it is seen running.
    kill_check = Watcher(lambda: terminate_pghaul(pg18.admin_url, [dbname(source_url), dbname(target_url)],
                                                  "%left(md5(ROW(%"))
    with kill_check:
        result = migrate(source_url, target_url, OPTIONS, recorder, retry=FAST)
    assert kill_check.error is None and kill_check.hits >= 1, "no comparison was caught in flight"
    assert_verified(result)
    assert len(recorder.retries) == 1
    assert any(isinstance(e, TableVerified) and not e.ok for e in recorder.events), \
        "the cut comparison should have been reported, then compared again"
    assert_same_rows(source_url, target_url)


def test_a_standalone_verify_cut_by_a_lost_connection_compares_again(
        pg18: TestServer, source_url: str, target_url: str) -> None:
    """``pghaul verify`` (``pghaul.engine.verify``): the comparison cut is made again, and the report is green only
    because it was; one ``Retrying`` said why."""
    from pghaul.engine import verify

    fill_source(source_url, 20_000)
    assert_verified(migrate(source_url, target_url, MigrateOptions(workers=2, batch_size=5_000, verify=False)))
    recorder = Recorder()
    kill_check = Watcher(lambda: terminate_pghaul(pg18.admin_url, [dbname(source_url), dbname(target_url)],
                                                  "%left(md5(ROW(%"))
    with kill_check:
        report = verify(source_url, target_url, listener=recorder, retry=FAST)
    assert kill_check.error is None and kill_check.hits >= 1, "no comparison was caught in flight"
    assert report.ok, report.differences()
    [retry] = recorder.retries
    assert retry.attempt == 1 and "connection" in retry.reason
    assert any(isinstance(e, TableVerified) and not e.ok for e in recorder.events), \
        "the cut comparison should have been reported, then compared again"


def test_a_sync_cut_by_a_lost_connection_runs_again_and_converges(
        pg18: TestServer, source_url: str, target_url: str) -> None:
    """``pghaul sync`` (``pghaul.engine.sync``): every session of the sync ended once it has listed its tables;
    the sync runs again and the target ends equal to the source, nothing doubled."""
    from pghaul.engine import sync

    fill_source(source_url, 5_000)
    assert_verified(migrate(source_url, target_url, OPTIONS))
    with connect(source_url) as conn:
        conn.execute("UPDATE item SET name = 'changed ' || id WHERE id % 7 = 0")
        conn.execute("DELETE FROM item WHERE id % 11 = 0")
        conn.execute("INSERT INTO item SELECT g, md5(g::text), 0, NULL FROM generate_series(5001, 5500) g")
        conn.execute("INSERT INTO logline VALUES (1, 'after the migration')")
        conn.execute("SELECT setval('counter', 99999)")
    recorder = EndSessionsOnceSyncStarts(pg18.admin_url, [dbname(source_url), dbname(target_url)])
    report = sync(source_url, target_url, listener=recorder, retry=FAST)
    assert recorder.ended >= 1, "the sync's sessions were not found to end"
    [retry] = recorder.retries
    assert retry.attempt == 1 and "connection" in retry.reason
    assert report.changes
    assert_same_rows(source_url, target_url)


def test_the_cutovers_last_sync_cut_by_a_lost_connection_runs_again_inside_the_window(
        pg18: TestServer, source_url: str, target_url: str) -> None:
    """The writes are paused: a lost connection must not end the cutover when running the sync again would do."""
    from pghaul.engine.cutover import finish

    fill_source(source_url, 3_000)
    assert_verified(migrate(source_url, target_url, OPTIONS))
    with connect(source_url) as conn:
        conn.execute("UPDATE item SET name = 'last write' WHERE id % 5 = 0")
    recorder = EndSessionsOnceSyncStarts(pg18.admin_url, [dbname(source_url), dbname(target_url)])
    report = finish(source_url, target_url, listener=recorder)
    assert recorder.ended >= 1, "the sync's sessions were not found to end"
    assert len(recorder.retries) == 1
    assert report.ok and report.instructions is not None
    assert_same_rows(source_url, target_url)


def test_retries_are_bounded_and_the_rerun_finishes(pg18: TestServer, source_url: str, target_url: str) -> None:
    fill_source(source_url, 2_000)
    databases = [dbname(source_url), dbname(target_url)]
    broken = threading.Event()
    broken.set()

    class KillEveryRun(Recorder):
        def on(self, event: events.Event) -> None:
            if broken.is_set() and isinstance(event, events.PhaseStarted) and event.phase == "data":
                terminate_pghaul(pg18.admin_url, databases)

    recorder = KillEveryRun()
    policy = RetryPolicy(attempts=3, first_wait=0.05, max_wait=0.1)
    with pytest.raises(ConnectionLost) as failed:
        migrate(source_url, target_url, OPTIONS, recorder, retry=policy)
    assert "lost 3 times" in failed.value.message and "run the same command again" in failed.value.hint
    assert [r.attempt for r in recorder.retries] == [1, 2]
    broken.clear()
    result = migrate(source_url, target_url, OPTIONS, retry=policy)
    assert_verified(result)
    assert_same_rows(source_url, target_url)


def test_a_retry_waits_for_the_lock_of_the_run_before_to_be_let_go(
        pg18: TestServer, source_url: str, target_url: str) -> None:
    """The run before closed its sessions, but a loaded server ends their backends (and frees the migration lock
    they held) a moment later: here a session of the test's holds the lock for a second after the pause, which
    the next run would take for another migration and refuse."""
    from pghaul.engine.jobs import MIGRATION_LOCK_KEY

    fill_source(source_url, 2_000)
    holder = connect(target_url)
    released = threading.Event()

    def release_after_a_second() -> None:
        time.sleep(1.0)
        holder.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK_KEY])
        released.set()

    class KillThenHold(Recorder):
        def on(self, event: events.Event) -> None:
            if isinstance(event, events.PhaseStarted) and event.phase == "data" and not self.retries:
                terminate_pghaul(pg18.admin_url, [dbname(target_url)])
            if isinstance(event, events.Retrying):  # before the pause: taken by the time the next run looks
                holder.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK_KEY])
                threading.Thread(target=release_after_a_second).start()

    recorder = KillThenHold()
    with holder:
        result = migrate(source_url, target_url, OPTIONS, recorder, retry=RetryPolicy(first_wait=0.1, max_wait=0.1))
    assert released.is_set() and len(recorder.retries) == 1
    assert_verified(result)
    assert_same_rows(source_url, target_url)


def test_between_two_runs_the_job_shows_running_with_the_retrys_words(
        pg18: TestServer, source_url: str, target_url: str) -> None:
    """``pghaul status`` from another terminal during the pause: the same job, running (the retry holds the
    migration lock), its hint saying why and when it runs again — not failed with a hint to run it again."""
    fill_source(source_url, 2_000)
    seen: list[tuple[str | None, str, str | None]] = []
    polling = threading.Event()

    def poll() -> None:
        with connect(target_url) as conn:
            while polling.is_set():
                status = read_status(conn)
                seen.append((status.job_id, status.state, status.hint))
                time.sleep(0.05)

    class KillThenWatch(Recorder):
        def on(self, event: events.Event) -> None:
            if isinstance(event, events.PhaseStarted) and event.phase == "data" and not self.retries:
                terminate_pghaul(pg18.admin_url, [dbname(target_url)])
            if isinstance(event, events.Retrying):
                polling.set()
                threading.Thread(target=poll, daemon=True).start()
            if isinstance(event, events.PhaseStarted) and event.phase == "preflight" and self.retries:
                polling.clear()

    recorder = KillThenWatch()
    result = migrate(source_url, target_url, OPTIONS, recorder, retry=RetryPolicy(first_wait=3.0, max_wait=3.0))
    polling.clear()
    assert_verified(result)
    assert len(recorder.retries) == 1
    waiting = [(job, hint) for job, state, hint in seen if state == "running"]
    assert waiting, seen
    assert all(job == result.job_id for job, _ in waiting)
    assert any(hint and "lost a connection" in hint and "run 2 of at most" in hint for _, hint in waiting), seen
    with connect(target_url) as conn:
        final = read_status(conn)
    assert (final.job_id, final.state, final.hint) == (result.job_id, "done", None)


def test_a_cancel_while_waiting_to_retry_stops_at_once(pg18: TestServer, source_url: str, target_url: str) -> None:
    fill_source(source_url, 2_000)
    cancel = threading.Event()

    class KillThenCancel(Recorder):
        def on(self, event: events.Event) -> None:
            if isinstance(event, events.PhaseStarted) and event.phase == "data" and not self.retries:
                terminate_pghaul(pg18.admin_url, [dbname(target_url)])
            if isinstance(event, events.Retrying):
                cancel.set()

    recorder = KillThenCancel()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        migrate(source_url, target_url, OPTIONS, recorder, cancel, retry=RetryPolicy(first_wait=600, max_wait=600))
    assert time.monotonic() - started < 300  # not the 300-600 s pause: a sanity bound, not a timing assertion
    assert len(recorder.retries) == 1


# --- the target restarted ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def restartable() -> Iterator[TestServer]:
    """A target server of this module's own: restarting the shared one would cut every other test's sessions."""
    from tests.logical_servers import start_cluster
    from tests.servers import stop

    server = start_cluster("faults-target", {})
    yield server
    stop(server)


def test_the_target_restarted_mid_copy(restartable: TestServer, source_url: str) -> None:
    target_url = restartable.create_database("dst")
    try:
        fill_source(source_url, 20_000)
        restarted = threading.Event()
        failures: list[BaseException] = []

        def restart_target() -> None:
            try:
                restart(restartable, "immediate")
                restarted.set()
            except BaseException as exc:  # the test fails on it below
                failures.append(exc)

        restarter = threading.Thread(target=restart_target)

        class RestartOnce(Recorder):
            def on(self, event: events.Event) -> None:
                if not restarter.is_alive() and not restarted.is_set() and isinstance(event, events.TableProgress) \
                        and event.table == "public.item" and event.rows_done >= 5_000:
                    restarter.start()

        recorder = RestartOnce()
        result = migrate(source_url, target_url, OPTIONS, recorder,
                         retry=RetryPolicy(attempts=6, first_wait=0.5, max_wait=4.0))
        restarter.join(timeout=60)
        assert restarted.is_set(), f"the target was not restarted during the copy: {failures}"
        assert_verified(result)
        assert recorder.retries, "the restart did not reach the run"
        assert_same_rows(source_url, target_url)
    finally:
        restartable.drop_database(target_url)


def set_on_database(conn: psycopg.Connection, database: str, setting: str, value: str) -> None:
    """A setting every new session on ``database`` starts with, as an owner or a provider may set one."""
    conn.execute(sql.SQL("ALTER DATABASE {} SET {} = {}").format(sql.Identifier(database), sql.Identifier(setting),
                                                               sql.Literal(value)))


def test_a_failure_while_a_server_restarted_is_the_restarts(restartable: TestServer, source_url: str) -> None:
    """pg_dump cut by a restart says only which query it ran (no words of a lost connection): the server's start
    time tells the retry that the failure was the restart's. An unrelated refusal with no restart is not retried."""
    from pghaul.dump.pg_dump import DumpFailed
    from pghaul.engine.retry import _restarted_under

    target_url = restartable.create_database("dst")
    try:
        cut = DumpFailed("pg_dump could not read the schema of x: pg_dump: detail: Query was: LOCK TABLE public.t",
                         "the role pghaul connects as must be able to read every table")
        with connect(target_url) as conn:  # up for longer than the probe's margin, else it reads as a restart
            row = conn.execute("SELECT extract(epoch FROM now() - pg_postmaster_start_time())").fetchone()
        time.sleep(max(0.0, 2.5 - float(row[0])))  # type: ignore[index]
        started = time.monotonic()
        assert _restarted_under(cut, True, started, source_url, target_url) is None
        restart(restartable, "fast")
        reason = _restarted_under(cut, True, started, source_url, target_url)
        assert reason is not None and "the target server restarted during the run" in reason
        assert _restarted_under(cut, False, started, source_url, target_url) is None  # never reached: misnamed
        assert _restarted_under(Cancelled("stopped on request"), True, started, source_url, target_url) is None
    finally:
        restartable.drop_database(target_url)


# --- the target's own limits ------------------------------------------------------------------------------------------


def test_timeouts_on_the_target_and_a_lock_held_elsewhere_make_pghaul_wait(
        pg18: TestServer, source_url: str, target_url: str) -> None:
    """pghaul sets statement_timeout and lock_timeout to 0 in its sessions: a database's own (set here, short) must
    not cut its statements (the slow expression index takes longer to build than the timeout allows), and a table
    locked by someone else is waited for, then copied whole.

    (Not 1 ms: pghaul's pg_dump runs one query before it sets its own timeouts to 0, and a 1 ms timeout on the
    database can cut that one under load — see the report of issue 15.)"""
    fill_source(source_url, 5_000, slow_index_rows=600)
    migrate(source_url, target_url, MigrateOptions(schema_only=True), retry=FAST)
    with connect(target_url) as conn:
        set_on_database(conn, dbname(target_url), "statement_timeout", "200ms")
        set_on_database(conn, dbname(target_url), "lock_timeout", "200ms")
    done: list[object] = []
    with connect(target_url) as holder:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE public.item IN ACCESS EXCLUSIVE MODE")
        runner = threading.Thread(target=lambda: done.append(_migrate_or_error(source_url, target_url)))
        runner.start()
        waited = _wait_for_lock_wait(pg18.admin_url, dbname(target_url))
        assert waited, "pghaul never waited for the lock"
        assert not done, f"pghaul stopped instead of waiting: {done}"
        holder.execute("COMMIT")
    runner.join(timeout=120)
    [result] = done
    assert not isinstance(result, BaseException), result
    assert_verified(result)
    assert_same_rows(source_url, target_url)


def _migrate_or_error(source_url: str, target_url: str) -> object:
    try:
        return migrate(source_url, target_url, OPTIONS, retry=FAST)
    except BaseException as exc:
        return exc


def _wait_for_lock_wait(admin_url: str, database: str) -> bool:
    """Whether a pghaul session on ``database`` comes to wait for a lock (within a minute)."""
    deadline = time.monotonic() + 60
    with connect(admin_url) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name ="
                               " 'pghaul' AND wait_event_type = 'Lock'", [database]).fetchone()
            if row and row[0]:
                time.sleep(0.6)  # longer than either timeout set on the database
                return True
            time.sleep(0.02)
    return False


def test_out_of_temporary_space_is_one_clear_error_and_the_rerun_finishes(
        source_url: str, target_url: str) -> None:
    """The disk the target may use for a sort runs out (temp_file_limit = 0 and little memory: the index build on
    item spills): a refusal naming the index and the limit, not retried, nothing half-built; once the limit goes, a
    rerun builds it and verifies."""
    fill_source(source_url, 30_000)
    name = dbname(target_url)
    with connect(target_url) as conn:
        set_on_database(conn, name, "temp_file_limit", "0")
        set_on_database(conn, name, "maintenance_work_mem", "1MB")
    recorder = Recorder()
    with pytest.raises(StepFailed) as failed:
        migrate(source_url, target_url, OPTIONS, recorder, retry=FAST)
    assert "public.item_name" in failed.value.message and "temp_file_limit" in failed.value.message
    assert failed.value.hint and not recorder.retries
    with connect(target_url) as conn:
        assert conn.execute("SELECT to_regclass('public.item_name')").fetchone() == (None,)
        assert read_status(conn).state == "failed"
        conn.execute(sql.SQL("ALTER DATABASE {} RESET temp_file_limit").format(sql.Identifier(name)))
    result = migrate(source_url, target_url, OPTIONS, retry=FAST)
    assert_verified(result)
    assert_same_rows(source_url, target_url)


# --- what the shells show -------------------------------------------------------------------------------------------


def test_the_command_says_it_retries_and_ends_verified(pg18: TestServer, source_url: str, target_url: str) -> None:
    """``pghaul migrate --json``: the retry is a typed event line (attempt, attempts, pause, reason), the run exits 0
    with a verified report."""
    import json

    from typer.testing import CliRunner

    from pghaul.cli import app

    # Chunks of 10,000 rows: each COPY lasts long enough for a poll every 5 ms to find one in flight.
    fill_source(source_url, 100_000)
    kill_copy = Watcher(lambda: terminate_pghaul(pg18.admin_url, [dbname(target_url)], "%COPY%FROM STDIN%", one=True))
    with kill_copy:
        done = CliRunner().invoke(app, ["migrate", "--source", source_url, "--target", target_url, "--yes", "--json",
                                        "--batch-size", "10000", "--workers", "2"], catch_exceptions=False)
    assert kill_copy.hits == 1, "no copy was caught in flight"
    lines = [json.loads(line) for line in done.output.splitlines() if line.startswith("{")]
    retries = [line for line in lines if line["event"] == "Retrying"]
    assert done.exit_code == 0, done.output[-2000:]
    assert len(retries) == 1 and retries[0]["attempt"] == 1 and retries[0]["level"] == "warning"
    assert retries[0]["wait_seconds"] > 0 and "connection" in retries[0]["reason"]
    assert lines[-1]["event"] == "Report" and lines[-1]["ok"] is True
    assert_same_rows(source_url, target_url)
