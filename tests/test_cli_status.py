"""`pghaul status` on real servers, always from another process than the migration's: a target where nothing
ran, a migration running (paused by its listener in the middle of a table), one that finished, one that failed
its verification, and one whose process was killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from pghaul import events as ev
from tests.conftest import run_sql

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

SCHEMA = """
CREATE TABLE public.events (id int PRIMARY KEY, payload text);
INSERT INTO public.events SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
CREATE TABLE public.users (id int PRIMARY KEY, name text);
INSERT INTO public.users SELECT g, 'user ' || g FROM generate_series(1, 50) g;
"""


def status(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``pghaul status`` in a process of its own, as from a second terminal."""
    return subprocess.run(
        [sys.executable, "-m", "pghaul", "status", *args], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "COLUMNS": "100", **(env or {})}, timeout=60, check=False,
    )


def status_json(target_url: str) -> dict:
    proc = status("--target", target_url, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def copied(url: str, table: str) -> int:
    """Rows pghaul's checkpoints on the target say it copied of ``table`` (0 before its first chunk)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('pghaul.checkpoints')").fetchone() == (None,):
            return 0
        row = conn.execute("SELECT coalesce(sum(rows_copied), 0) FROM pghaul.checkpoints WHERE table_name = %s",
                           (table,)).fetchone()
    return int(row[0]) if row else 0


def flat(text: str) -> str:
    return " ".join(text.split())


def test_status_of_a_target_where_nothing_ran(target_url: str) -> None:
    proc = status("--target", target_url)
    assert proc.returncode == 0, proc.stderr
    assert "nothing has run here" in proc.stdout
    reply = status_json(target_url)
    assert reply["state"] == "idle" and reply["jobId"] is None and reply["tables"] == []


def test_status_after_a_migration_shows_it_done_with_its_tables_and_summary(source_url: str, target_url: str) -> None:
    from pghaul.cli import app

    run_sql(source_url, SCHEMA)
    migrated = runner.invoke(app, ["migrate", "--source", source_url, "--target", target_url, "--yes"])
    assert migrated.exit_code == 0, migrated.output
    proc = status(env={"NEW_DATABASE_URL": target_url})  # the target's variable is the default
    assert proc.returncode == 0, proc.stderr
    out = flat(proc.stdout)
    assert " done " in f" {out} " and "phase" not in out
    assert "tables: 2 of 2 done" in out and "rows: 20,050 of ~20,050" in out
    assert "public.events 20,000 ~20,000" in out and "public.users 50 ~50" in out
    assert "rows inserted: 20,050" in out and "verified: source and target match" in out
    reply = status_json(target_url)
    assert reply["state"] == "done" and reply["finishedAt"] and reply["error"] is None
    assert {t["table"]: t["rowsCopied"] for t in reply["tables"]} == {"public.events": 20000, "public.users": 50}
    assert reply["report"]["ok"] is True


def test_status_of_a_running_migration_from_another_process(source_url: str, target_url: str) -> None:
    """The migration runs in this process and its listener holds it mid-table; status runs in another."""
    from pghaul.engine import MigrateOptions, migrate

    run_sql(source_url, SCHEMA)
    paused, resume = threading.Event(), threading.Event()

    def listener(event: ev.Event) -> None:
        # Progress is emitted after its chunk committed: 3,000 rows of public.events are on the target.
        if isinstance(event, ev.TableProgress) and event.table == "public.events" and event.rows_done >= 3000:
            if not paused.is_set():
                paused.set()
                resume.wait(120)

    results: list[object] = []
    options = MigrateOptions(batch_size=1000, workers=1, verify=False)
    thread = threading.Thread(target=lambda: results.append(migrate(source_url, target_url, options, listener)))
    thread.start()
    try:
        assert paused.wait(60), "the migration never reached public.events"
        proc = status("--target", target_url)
        reply = status_json(target_url)
    finally:
        resume.set()
        thread.join(120)
    assert proc.returncode == 0, proc.stderr
    out = flat(proc.stdout)
    assert "running phase data" in out, proc.stdout
    assert "public.events 3,000 ~20,000" in out and "0/1" in out and "15%" in out
    assert reply["state"] == "running" and reply["phase"] == "data" and reply["finishedAt"] is None
    events = next(t for t in reply["tables"] if t["table"] == "public.events")
    assert events["rowsCopied"] == 3000 and events["rowsEstimated"] == 20000 and events["done"] is False

    assert results and getattr(results[0], "ok", False)
    after = status_json(target_url)
    assert after["state"] == "done" and all(t["done"] for t in after["tables"])


def test_status_after_a_verification_that_failed_says_so_with_the_hint(source_url: str, target_url: str) -> None:
    from pghaul.cli import app

    table = "CREATE TABLE public.items (id int PRIMARY KEY, name text);"
    run_sql(source_url, table + "INSERT INTO public.items VALUES (1, 'a')")
    run_sql(target_url, table + "INSERT INTO public.items VALUES (2, 'x')")  # kept by the copy, seen by verify
    migrated = runner.invoke(app, ["migrate", "--source", source_url, "--target", target_url, "--yes"])
    assert migrated.exit_code == 1, migrated.output
    out = flat(status("--target", target_url).stdout)
    assert " failed " in out and "error: verification found differences" in out
    assert "hint: see the verification report" in out
    assert "verification found" in out and "table public.items: 1 rows on source, 2 on target" in out
    assert status_json(target_url)["state"] == "failed"


def test_status_after_the_migration_process_was_killed_says_interrupted(source_url: str, target_url: str) -> None:
    run_sql(source_url, "CREATE TABLE public.big (id int PRIMARY KEY, v text);"
                        "INSERT INTO public.big SELECT g, md5(g::text) FROM generate_series(1, 200000) g")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pghaul", "migrate", "--source", source_url, "--target", target_url, "--yes",
         "--workers", "1", "--batch-size", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    seen = b""
    while b"phase data started" not in seen:
        chunk = os.read(proc.stdout.fileno(), 65536)
        assert chunk, seen.decode()
        seen += chunk
    deadline = time.monotonic() + 60
    while copied(target_url, "big") == 0:  # some chunks committed, far from all 1,000
        assert time.monotonic() < deadline and proc.poll() is None, seen.decode()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # no chance to record anything: the job row still says running
    proc.wait(30)
    proc.stdout.close()

    deadline = time.monotonic() + 30
    reply = status_json(target_url)
    while reply["state"] == "running" and time.monotonic() < deadline:  # the server notices the dead session
        time.sleep(0.2)
        reply = status_json(target_url)
    assert reply["state"] == "interrupted", reply
    assert reply["error"].startswith("interrupted") and "start the migration again" in reply["hint"]
    big = next(t for t in reply["tables"] if t["table"] == "public.big")
    assert 0 < big["rowsCopied"] < 200000 and big["done"] is False
    out = flat(status("--target", target_url).stdout)
    assert " interrupted " in out and "phase data" in out
    assert "hint: start the migration again: it continues from the last committed chunk" in out
    assert "public.big" in out
