"""Sync on a source that keeps changing: a writer runs through a whole migration, and syncs killed at random
moments converge. Real servers, real concurrent sessions."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psycopg

from pghaul.engine import migrate
from pghaul.sync import SyncOptions, sync
from pghaul.verify import verify
from tests.conftest import run_sql
from tests.test_sync import CHANGES, SCHEMA


class Writer(threading.Thread):
    """Inserts, updates and deletes in every kind of table (serial, uuid, composite key, no key, vectors, large
    objects) until stopped, as an app would; a statement the app's own constraints refuse is skipped."""

    def __init__(self, url: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.url, self.rng, self.stop, self.writes = url, random.Random(seed), threading.Event(), 0

    STATEMENTS = (
        "INSERT INTO public.accounts (email, name) VALUES ('w' || gen_random_uuid() || '@x', 'writer')",
        "UPDATE public.accounts SET name = md5(random()::text) WHERE id = {n}",
        "DELETE FROM public.accounts WHERE id = {n}",
        "INSERT INTO public.orders VALUES (gen_random_uuid(), (SELECT max(id) FROM public.accounts), {n}, 'w')",
        "UPDATE public.orders SET total = total + 1 WHERE id = (SELECT id FROM public.orders LIMIT 1 OFFSET {n})",
        "INSERT INTO public.line_items SELECT id, 100 + {n}, 1 FROM public.orders LIMIT 1 OFFSET {n}",
        "DELETE FROM public.line_items WHERE line = 3 AND order_id = md5('order' || {n})::uuid",
        "INSERT INTO public.log VALUES (clock_timestamp(), 'writer {n}')",
        "INSERT INTO public.items (embedding) VALUES ('[{n},1,2]')",
        "UPDATE public.items SET embedding = '[1,{n},3]' WHERE id = {n}",
        "SELECT lo_from_bytea(0, convert_to('object {n}', 'UTF8'))",
        "SELECT lo_put(5003, 0, convert_to('v{n}', 'UTF8'))",
    )

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                statement = self.rng.choice(self.STATEMENTS).format(n=self.rng.randint(1, 2900))
                try:
                    conn.execute(statement)  # type: ignore[arg-type]
                    self.writes += 1
                except psycopg.errors.IntegrityError:
                    pass
                time.sleep(0.002)


def test_migrate_while_an_app_writes_then_sync_is_verified(source_url: str, target_url: str) -> None:
    run_sql(source_url, SCHEMA)
    writer = Writer(source_url, seed=13)
    writer.start()
    try:
        result = migrate(source_url, target_url)
        sync(source_url, target_url)  # a catch-up round while the app still writes
    finally:
        writer.stop.set()
        writer.join()
    assert writer.writes > 50, "the writer must really have written during the migration"
    # Verified against the snapshot it copied: the app's writes since are sync's job, not a failure.
    assert result.ok, result.verify_report.differences() if result.verify_report else result.notices
    assert any("sync" in notice for notice in result.notices)
    report = sync(source_url, target_url)
    assert report.changes > 0 or writer.writes == 0
    verified = verify(source_url, target_url)
    assert verified.ok, verified.differences()
    assert sync(source_url, target_url).changes == 0


KILLED_SYNC = textwrap.dedent(
    """
    import os, signal, sys, threading
    from pghaul.events import PhaseStarted
    from pghaul.sync import SyncOptions, sync
    from pghaul.sync.progress import TableSynced

    # "checksums": every range compared and replaced in its own transaction (the slow path), killed a random time
    # after the sync began (counted from its start, not the process's, so a slow start-up does not eat the delay);
    # "row-versions": the fast path, killed right after its first table.
    mode, delay = sys.argv[3], float(sys.argv[4])

    def kill():
        os.kill(os.getpid(), signal.SIGKILL)

    def listener(event):
        if isinstance(event, PhaseStarted):
            print("started", flush=True)
            if mode == "checksums":
                threading.Timer(delay, kill).start()
        if isinstance(event, TableSynced):
            print("synced", event.table, flush=True)
            if mode == "row-versions":
                kill()

    options = SyncOptions(leaf_rows=50, fanout=4, workers=2, full=mode == "checksums")
    sync(sys.argv[1], sys.argv[2], options, listener)
    print("finished", flush=True)
    """
)


def _sync_killed(source_url: str, target_url: str, mode: str, delay: float) -> bool:
    """Run a sync in a child process that kills itself (see KILLED_SYNC); True if it was killed part way: after
    its work began, before it finished."""
    child = subprocess.run([sys.executable, "-c", KILLED_SYNC, source_url, target_url, mode, str(delay)],
                           capture_output=True, text=True, timeout=300, check=False)
    assert child.returncode in (0, -signal.SIGKILL), child.stdout + child.stderr
    return child.returncode == -signal.SIGKILL and "started" in child.stdout


def _key_counts(url: str) -> dict[str, tuple[int, int]]:
    """Rows and distinct keys per keyed table: a duplicate would make them differ."""
    with psycopg.connect(url) as conn:
        return {
            table: tuple(conn.execute(f"SELECT count(*), count(DISTINCT ({key})) FROM public.{table}").fetchone())
            for table, key in (("accounts", "id"), ("orders", "id"), ("line_items", "order_id, line"),
                               ("items", "id"))
        }


ROUND_CHANGES = """
UPDATE public.line_items SET qty = qty + 1 WHERE line = {line};
DELETE FROM public.orders WHERE account_id % 50 = {round};
INSERT INTO public.log SELECT now(), 'round {round} ' || i FROM generate_series(1, 30) AS i;
UPDATE public.items SET embedding = '[{round},5,5]' WHERE id % 7 = {round} % 7;
INSERT INTO public.accounts (email, name) SELECT 'r{round}.' || i || '@x', 'round' FROM generate_series(1, 40) AS i;
"""


def test_sync_killed_at_random_moments_converges(source_url: str, target_url: str) -> None:
    run_sql(source_url, SCHEMA)
    migrate(source_url, target_url)
    run_sql(source_url, CHANGES)
    rng = random.Random(2026)
    killed = 0
    for round_ in range(8):
        # New changes every round, so each killed sync has work to be killed in.
        run_sql(source_url, ROUND_CHANGES.format(line=1 + round_ % 3, round=round_))
        mode = "checksums" if round_ % 2 else "row-versions"
        killed += _sync_killed(source_url, target_url, mode, rng.uniform(0.1, 1.5))
    assert killed >= 6, "most syncs must have been killed part way for this test to mean anything"
    sync(source_url, target_url, SyncOptions(leaf_rows=50, fanout=4))
    verified = verify(source_url, target_url)
    assert verified.ok, verified.differences()
    assert _key_counts(target_url) == _key_counts(source_url)
    assert all(rows == keys for rows, keys in _key_counts(target_url).values())
