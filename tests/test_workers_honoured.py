"""--workers below the default is honoured in every stage that opens sessions in parallel: the data phase (copies,
index builds, early checks), large objects, verify and sync never hold more sessions than the worker count allows.

A thread samples pg_stat_activity throughout each run and keeps the most pghaul sessions it saw on each database
at once. With one worker a run may hold, on the source: its control session, the transaction that holds the
exported snapshot, and one reader (a worker's, the table planner's, the large objects' or verify's, one after
another); on the target: its control session and the worker's session with, during a watched index build, one
more that polls its progress (the bounds ``pghaul.http.migration`` states for the admin API's jobs).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict

from pghaul.engine import MigrateOptions, migrate
from pghaul.sample import fill_sample_database
from pghaul.sync import SyncOptions, sync
from tests.conftest import run_sql
from tests.servers import TestServer

SOURCE_MAX_WITH_ONE_WORKER = 3  # control + snapshot holder + 1 reader
TARGET_MAX_WITH_ONE_WORKER = 3  # control + 1 worker + 1 index-build watcher
SAMPLER = "pghaul-test-sampler"


class _Sampler:
    """The most pghaul sessions seen at once per database, and how many samples were taken."""

    def __init__(self, admin_url: str, databases: dict[str, str]) -> None:
        self.admin_url = admin_url
        self.names = databases  # dbname -> "source" / "target"
        self.peak: Counter[str] = Counter()
        self.samples = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="session-sampler", daemon=True)

    def run(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True, application_name=SAMPLER) as conn:
            while not self.stop.is_set():
                rows = conn.execute(
                    "SELECT datname, count(*) FROM pg_stat_activity WHERE application_name = 'pghaul'"
                    " AND datname = ANY(%s) GROUP BY datname", (list(self.names),)).fetchall()
                for datname, count in rows:
                    role = self.names[datname]
                    self.peak[role] = max(self.peak[role], count)
                self.samples += 1
                self.stop.wait(0.005)


@contextmanager
def sampling(server: TestServer, source_url: str, target_url: str) -> Iterator[_Sampler]:
    names = {conninfo_to_dict(source_url)["dbname"]: "source", conninfo_to_dict(target_url)["dbname"]: "target"}
    sampler = _Sampler(server.admin_url, names)  # type: ignore[arg-type]
    sampler.thread.start()
    try:
        yield sampler
    finally:
        sampler.stop.set()
        sampler.thread.join(10)


def _fill(url: str) -> None:
    fill_sample_database(url, users=30, memories_per_user=10)
    run_sql(url, """
        CREATE TABLE big (id bigint PRIMARY KEY, v text);
        INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 60000) g;
        CREATE INDEX ON big (v);
        SELECT lo_from_bytea(0, convert_to(repeat('large object ', 20000), 'UTF8')) FROM generate_series(1, 3);
        ANALYZE;
    """)


def test_one_worker_means_one_reader_in_every_stage(pg18: TestServer, source_url: str, target_url: str) -> None:
    _fill(source_url)
    # Small chunks and a low split threshold: with more workers the big table would be split and read at once.
    options = MigrateOptions(workers=1, batch_size=2000, split_rows=10_000)
    with sampling(pg18, source_url, target_url) as sampler:
        result = migrate(source_url, target_url, options)
    assert result.ok and result.workers == 1
    assert result.large_objects is not None and result.large_objects.copied == 3
    assert sampler.samples > 20
    assert 2 <= sampler.peak["source"] <= SOURCE_MAX_WITH_ONE_WORKER, sampler.peak
    assert 1 <= sampler.peak["target"] <= TARGET_MAX_WITH_ONE_WORKER, sampler.peak

    # sync with one worker, over tables that changed: the same bounds.
    run_sql(source_url, """
        UPDATE big SET v = 'changed' WHERE id % 97 = 0;
        DELETE FROM big WHERE id % 89 = 0;
        INSERT INTO big SELECT g, 'new' FROM generate_series(60001, 61000) g;
    """)
    with sampling(pg18, source_url, target_url) as sampler:
        report = sync(source_url, target_url, SyncOptions(workers=1, full=True))
    assert any(t.table == "public.big" for t in report.tables), report
    assert sampler.samples > 5
    assert 2 <= sampler.peak["source"] <= SOURCE_MAX_WITH_ONE_WORKER, sampler.peak
    assert 1 <= sampler.peak["target"] <= TARGET_MAX_WITH_ONE_WORKER, sampler.peak
    assert _digest(source_url) == _digest(target_url)


def _digest(url: str) -> tuple[int, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM big").fetchone()
    assert row is not None
    return row[0], row[1]


def test_more_workers_are_seen_by_the_sampler(pg18: TestServer, source_url: str, target_url: str) -> None:
    """The sampler can see what the bound forbids: the same run with three workers holds more sessions."""
    _fill(source_url)
    options = MigrateOptions(workers=3, batch_size=500, split_rows=5_000, verify=False)
    with sampling(pg18, source_url, target_url) as sampler:
        result = migrate(source_url, target_url, options)
    assert result.ok and result.workers == 3
    assert sampler.peak["source"] > SOURCE_MAX_WITH_ONE_WORKER, sampler.peak
