"""--max-rate: the bytes read from the source, all workers together, stay within the cap; the copy is verified.

Only lower bounds on time are asserted (a run cannot read faster than the cap): a loaded machine makes a run
slower, never faster, so these cannot fail for want of CPU.
"""

from __future__ import annotations

import math
import threading
import time

import psycopg
import pytest
from typer.testing import CliRunner

from pghaul.cli.commands import app
from pghaul.copy.rate_limit import MB, RateLimit
from pghaul.engine import MigrateOptions, migrate
from pghaul.errors import UsageError
from pghaul.events import Event, PhaseStarted, TableFinished, TableProgress
from pghaul.kinds import Phase
from tests.conftest import run_sql

CAP_MB = 3.0
ROWS = 40_000
LARGE_OBJECTS = 2
LARGE_OBJECT_BYTES = 256 * 1024


def _fill(url: str, rows: int = ROWS) -> None:
    # Two tables of about 4.5 MB each in COPY's binary form: with two workers both stream at once.
    run_sql(url, f"""
        CREATE TABLE wide (id bigint PRIMARY KEY, body text NOT NULL);
        INSERT INTO wide SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, {int(rows)}) g;
        CREATE TABLE wide2 (id bigint PRIMARY KEY, body text NOT NULL);
        INSERT INTO wide2 SELECT g, repeat(md5((-g)::text), 3) FROM generate_series(1, {int(rows)}) g;
        CREATE TABLE keyless (n int, t text);
        INSERT INTO keyless SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
        SELECT lo_from_bytea(0, convert_to(repeat(md5(g::text), {LARGE_OBJECT_BYTES // 32}), 'UTF8'))
          FROM generate_series(1, {LARGE_OBJECTS}) g;
        ANALYZE;
    """)


class _Timeline:
    """The engine's own progress events, each with the moment it arrived (after the bytes it reports were read)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data_started: float | None = None
        self.latest: dict[str, int] = {}
        self.points: list[tuple[float, int]] = []  # (seconds since the data phase began, bytes read so far)
        self.finished_bytes = 0

    def __call__(self, event: Event) -> None:
        now = time.monotonic()
        with self.lock:
            if isinstance(event, PhaseStarted) and event.phase == Phase.DATA:
                self.data_started = now
            elif isinstance(event, TableProgress):
                assert self.data_started is not None
                self.latest[event.table] = event.bytes_done
                self.points.append((now - self.data_started, sum(self.latest.values())))
            elif isinstance(event, TableFinished):
                self.finished_bytes += event.bytes_done


def test_reads_stay_within_the_cap_and_the_copy_verifies(source_url: str, target_url: str) -> None:
    _fill(source_url)
    options = MigrateOptions(workers=2, batch_size=4000, max_rate=CAP_MB)
    timeline = _Timeline()
    result = migrate(source_url, target_url, options, listener=timeline)
    assert result.ok and result.verify_report is not None and result.verify_report.ok
    assert result.rows_copied == 2 * ROWS + 5000
    rate = options.source_rate
    assert rate is not None
    total = sum(t.bytes for t in result.tables)
    assert total == timeline.finished_bytes and total > 2.5 * CAP_MB * MB  # more than the bucket's burst
    # Every byte the copy reports, rows and large objects, went through the run's one bucket, and the bucket made
    # the readers wait.
    assert result.large_objects is not None and result.large_objects.copied == LARGE_OBJECTS
    assert result.large_objects.bytes_copied == LARGE_OBJECTS * LARGE_OBJECT_BYTES
    assert rate.taken == total + LARGE_OBJECTS * LARGE_OBJECT_BYTES
    assert rate.waited > 0
    # At every progress event, what all workers read so far is within the cap since the phase began (plus the
    # bucket's burst): the engine's own byte counts against time that passed, which load can only lengthen.
    assert len(timeline.points) >= 10
    for seconds, read in timeline.points:
        assert read <= CAP_MB * MB * seconds + rate.burst, (seconds, read)
    with psycopg.connect(target_url) as conn:
        assert conn.execute("SELECT count(*), sum(length(body)) FROM wide").fetchone() == (ROWS, ROWS * 96)


def test_the_bucket_holds_many_threads_to_the_rate() -> None:
    """The token bucket on its own (a real clock, real threads): 4 readers taking 64 KiB blocks cannot take
    more than rate x seconds + burst between any two moments of the run."""
    rate = RateLimit(2 * MB)
    started = time.monotonic()
    stamps: list[tuple[float, int]] = []
    lock = threading.Lock()

    def reader() -> None:
        for _ in range(10):
            rate.take(64 * 1024)
            with lock:
                stamps.append((time.monotonic() - started, 64 * 1024))

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rate.taken == 4 * 10 * 64 * 1024
    done = 0
    for seconds, nbytes in sorted(stamps):
        done += nbytes
        assert done <= 2 * MB * seconds + rate.burst
    assert time.monotonic() - started >= (rate.taken - rate.burst) / (2 * MB)


def test_a_cancelled_reader_stops_waiting() -> None:
    rate = RateLimit(1000)  # 1 kB/s: a 10 MB debt would take hours
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    rate.take(10 * MB, stop)
    assert time.monotonic() - started < 5  # an upper bound on a sleep that must not happen at all, not on work


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf])
def test_a_rate_that_is_not_positive_is_refused(bad: float) -> None:
    with pytest.raises(UsageError, match="max rate") as caught:
        migrate("postgresql://nowhere.invalid/x", "postgresql://nowhere.invalid/y", MigrateOptions(max_rate=bad))
    assert "--max-rate" in (caught.value.hint or "")


def test_the_cli_refuses_a_zero_rate_and_shows_the_cap_in_the_dry_run(source_url: str, target_url: str) -> None:
    _fill(source_url, 100)
    runner = CliRunner()
    refused = runner.invoke(app, ["migrate", "--source", source_url, "--target", target_url, "--max-rate", "0",
                                  "--yes"])
    assert refused.exit_code == 2, refused.output
    assert "max rate" in refused.output and "--max-rate" in refused.output
    with psycopg.connect(target_url) as conn:  # refused before anything was written
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'pghaul'").fetchone() == (0,)
    shown = runner.invoke(app, ["migrate", "--source", source_url, "--target", target_url, "--max-rate", "2.5",
                                "--dry-run"])
    assert shown.exit_code == 0, shown.output
    assert "-- note: the source is read at most 2.5 MB/s" in shown.output


def test_the_api_takes_max_rate_and_refuses_a_bad_one(source_url: str, target_url: str) -> None:
    from fastapi.testclient import TestClient

    from pghaul.http import create_app
    from tests.test_http_helpers import AUTH, make_settings

    _fill(source_url, 1000)
    with TestClient(create_app(make_settings(source_url, target_url))) as client:
        bad = client.post("/api/admin/db-migrate-all", headers=AUTH, json={"maxRate": 0})
        assert bad.status_code == 400 and "maxRate" in bad.json()["error"], bad.text
        preview = client.post("/api/admin/db-migrate-all", headers=AUTH, params={"dryRun": "true"},
                              json={"maxRate": 2.5})
        assert preview.status_code == 200, preview.text
        assert any("2.5 MB/s" in note for note in preview.json()["plan"]["notes"])
        started = client.post("/api/admin/db-migrate-all", headers=AUTH, json={"maxRate": 50})
        assert started.status_code == 200 and started.json()["started"] is True, started.text
        deadline = time.monotonic() + 120
        while (status := client.get("/api/admin/db-status", headers=AUTH).json())["state"] == "running":
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["state"] == "done", status
        notices = [n["message"] for n in (status.get("live") or {}).get("notices", [])]
        assert any("50 MB/s" in n for n in notices), f"the job did not say it ran with the cap: {notices}"
