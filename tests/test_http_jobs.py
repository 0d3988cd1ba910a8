"""The whole migration as a background job: db-migrate-all, db-status until done, verify green; and a server
restarted in the middle of a job resumes it from the last committed chunk."""

from __future__ import annotations

import threading
from collections import Counter

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict

from pghaul import events
from pghaul.http import create_app
from pghaul.http.migration import job_connection_limit, job_workers
from pghaul.sample import SAMPLE_TABLES, fill_sample_database
from tests.test_http_helpers import AUTH, count_rows, make_settings, poll_status, user_relations


def _finished(status: dict) -> bool:
    return status["state"] in ("done", "failed")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_migrate_all_runs_in_the_background_and_verifies_green(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=6, memories_per_user=3)
    app = create_app(make_settings(source_url, target_url))
    with TestClient(app) as client:
        idle = client.get("/api/admin/db-status", headers=AUTH).json()
        assert idle["success"] and idle["state"] == "idle"

        preflight = client.get("/api/admin/db-preflight", headers=AUTH).json()
        assert preflight["success"] and preflight["ok"] is True and preflight["targetIsSource"] is False
        assert preflight["targetEmpty"] is True and preflight["tablesWithoutPrimaryKey"] == ["audit_log"]
        extensions = {e["name"]: e["ok"] for e in preflight["extensions"]}
        assert extensions.get("vector") is True and all(extensions.values())
        assert preflight["source"]["versionNum"] >= 160000 and preflight["totalBytes"] > 0
        assert preflight["vectorIndexes"] == ["public.persistent_memories_embedding_idx"]
        assert any("audit_log" in w for w in preflight["warnings"])
        assert _is_number(preflight["estimateSeconds"]) and preflight["estimateSeconds"] >= 0

        preview = client.post("/api/admin/db-migrate-all", params={"dryRun": "true"}, headers=AUTH).json()
        assert preview["dryRun"] is True and "CREATE TABLE" in preview["sql"]
        assert user_relations(target_url) == []

        started = client.post("/api/admin/db-migrate-all", headers=AUTH).json()
        assert started["success"] and started["state"] == "running" and started["jobId"]
        again = client.post("/api/admin/db-migrate-all", headers=AUTH).json()
        assert again["jobId"] == started["jobId"]  # a second call shows the same job, running or done

        status = poll_status(client, _finished)
        assert status["state"] == "done", status
        assert status["jobId"] == started["jobId"] and status["errors"] == []
        assert status["verify"] is not None and status["verify"]["ok"] is True
        done = {t["table"]: t for t in status["tables"]}
        for name in SAMPLE_TABLES:
            assert done[f"public.{name}"]["rowsDone"] == count_rows(source_url, f"public.{name}")
            assert done[f"public.{name}"]["done"] is True
        assert all(_is_number(t["bytes"]) and _is_number(t["rate"]) and t["etaSeconds"] == 0 for t in done.values())
        assert status["bytesDone"] > 0 and _is_number(status["rate"]) and status["etaSeconds"] == 0

        verdict = client.get("/api/admin/db-verify", headers=AUTH).json()
        assert verdict["ok"] is True

    with TestClient(create_app(make_settings(source_url, target_url))) as client:
        after_restart = client.get("/api/admin/db-status", headers=AUTH).json()
        assert after_restart["state"] == "done" and after_restart["jobId"] == started["jobId"]
        repeat = client.post("/api/admin/db-migrate-all", headers=AUTH).json()
        assert repeat["state"] == "done" and repeat["started"] is False


def test_a_restarted_server_resumes_the_job_and_finishes_green(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=20, memories_per_user=2)
    paused = threading.Event()
    release = threading.Event()

    def hold_at_first_chunk(event: events.Event) -> None:
        # The engine thread waits here after its first committed chunk until the server shuts down.
        if isinstance(event, events.TableProgress) and event.rows_done > 0 and not paused.is_set():
            paused.set()
            release.wait(120)
        if isinstance(event, events.Notice) and "shutting down" in event.message:
            release.set()

    app = create_app(make_settings(source_url, target_url), listener=hold_at_first_chunk)
    with TestClient(app) as client:
        first = client.post("/api/admin/db-migrate-all", params={"batchSize": 20}, headers=AUTH).json()
        assert first["state"] == "running"
        assert paused.wait(120), "the job never copied a chunk"
        mid = client.get("/api/admin/db-status", headers=AUTH).json()
        assert mid["state"] == "running" and mid["jobId"] == first["jobId"]
        # Live numbers while it runs: the table being copied has a rate and an ETA, and so has the whole job.
        assert _is_number(mid["bytesDone"]) and mid["rate"] > 0 and _is_number(mid["etaSeconds"])
        assert all(_is_number(t["bytes"]) and _is_number(t["rate"]) for t in mid["tables"])
        moving = [t for t in mid["tables"] if t["rowsDone"] and not t["done"]]
        # With several workers, another table's chunk may be committed while its progress event still waits
        # behind the held one: the table whose event arrived has a rate and an ETA.
        assert any(t["rate"] > 0 and _is_number(t["etaSeconds"]) for t in moving), mid["tables"]
        # Asking again while the job is held running shows that job; nothing new starts.
        again = client.post("/api/admin/db-migrate-all", headers=AUTH).json()
        assert again == {"success": True, "jobId": first["jobId"], "state": "running", "started": False}
        assert paused.is_set() and not release.is_set()  # still held: the reply above came while it ran
    # Leaving the block shut the server down in the middle of the data phase.

    total = sum(count_rows(source_url, f"public.{name}") for name in SAMPLE_TABLES)
    copied_before = sum(count_rows(target_url, f"public.{name}") for name in SAMPLE_TABLES)
    with TestClient(create_app(make_settings(source_url, target_url))) as client:
        stopped = client.get("/api/admin/db-status", headers=AUTH).json()
        assert stopped["state"] == "failed" and stopped["jobId"] == first["jobId"]
        assert 0 < stopped["rowsDone"] == copied_before < total
        assert stopped["errors"] and all(e["error"] and e["hint"] for e in stopped["errors"])
        assert "command" not in stopped["errors"][0]["hint"]  # worded for the browser, not the CLI

        resumed = client.post("/api/admin/db-migrate-all", params={"batchSize": 20}, headers=AUTH).json()
        assert resumed["jobId"] == first["jobId"] and resumed["resumed"] is True
        status = poll_status(client, _finished)
        assert status["state"] == "done", status
        assert status["verify"]["ok"] is True
        for name in SAMPLE_TABLES:
            assert count_rows(target_url, f"public.{name}") == count_rows(source_url, f"public.{name}")
        # Resumed from the last committed chunk: the second run copied exactly the rows the first had not,
        # and found none of them already there (re-copying a chunk would show as skipped rows).
        report = status["report"]
        assert report["resumed"] is True
        assert sum(t["rowsCopied"] for t in report["tables"]) == total - copied_before
        assert sum(t["rowsSkipped"] for t in report["tables"]) == 0
        assert sum(t["rowsDone"] for t in status["tables"]) == total


def _sessions_per_database(conn: psycopg.Connection, names: list[str]) -> Counter[tuple[str, str]]:
    rows = conn.execute(
        "SELECT datname, application_name FROM pg_stat_activity"
        " WHERE datname = ANY(%s) AND application_name LIKE 'pghaul%%'",
        (names,),
    ).fetchall()
    return Counter((r[0], r[1]) for r in rows)


def test_migrate_all_stays_within_the_pool_size_per_database(pg18, source_url: str, target_url: str) -> None:  # type: ignore[no-untyped-def]
    # A pool size of 3 leaves room for one worker; the engine's own default would take two on two cores and
    # open a fourth source connection.
    pool_size = 3
    limit = job_connection_limit(pool_size)
    assert job_workers(pool_size) == 1 and limit == pool_size
    fill_sample_database(source_url, users=20, memories_per_user=3)
    names = [conninfo_to_dict(source_url)["dbname"], conninfo_to_dict(target_url)["dbname"]]
    peak: Counter[tuple[str, str]] = Counter()
    samples = [0]
    lock = threading.Lock()
    watcher = psycopg.connect(pg18.admin_url, autocommit=True)

    def sample() -> None:
        with lock:
            samples[0] += 1
            for key, count in _sessions_per_database(watcher, names).items():
                peak[key] = max(peak[key], count)

    def on_event(event: events.Event) -> None:
        # Sampled from inside the job too: at each event its workers hold every connection they opened.
        if isinstance(event, events.TableProgress | events.TableStarted | events.PhaseStarted | events.IndexProgress):
            sample()

    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.02):
            sample()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        with TestClient(create_app(make_settings(source_url, target_url, pool_size=pool_size),
                                   listener=on_event)) as client:
            started = client.post("/api/admin/db-migrate-all", params={"batchSize": 10}, headers=AUTH).json()
            assert started["state"] == "running"
            status = poll_status(client, _finished)
            assert status["state"] == "done", status
            assert status["report"]["workers"] == 1
    finally:
        stop.set()
        poller.join(5)
        watcher.close()
    assert samples[0] > 20
    source, target = names
    # The job alone (sessions named "pghaul") stays within the pool size; the request pools ("pghaul-api") too.
    assert peak[(source, "pghaul")] == limit, peak  # reached: the sampling saw the job at its widest
    assert peak[(target, "pghaul")] <= limit, peak
    assert 1 <= peak[(target, "pghaul")], peak
    for database in names:
        assert peak[(database, "pghaul-api")] <= pool_size, peak
        assert peak[(database, "pghaul")] + peak[(database, "pghaul-api")] <= 2 * pool_size


def test_a_failed_job_keeps_message_and_hint_apart_and_the_browser_gets_its_own_hint(
    source_url: str, target_url: str
) -> None:
    import dataclasses
    import threading

    from pghaul import events
    from pghaul.connect import connect_target
    from pghaul.engine import MigrateOptions, migrate
    from pghaul.engine.jobs import read_status
    from pghaul.errors import PghaulError
    from pghaul.http.migration import recorded_error
    from pghaul.sample import fill_sample_database

    fill_sample_database(source_url, users=3, memories_per_user=1)
    cancel = threading.Event()

    def stop(event: events.Event) -> None:
        if isinstance(event, events.TableProgress):
            cancel.set()

    with pytest.raises(PghaulError):
        migrate(source_url, target_url, MigrateOptions(workers=1, batch_size=10), stop, cancel)
    with connect_target(target_url) as conn:
        status = read_status(conn)
    assert status.state == "failed"
    assert status.error is not None and status.error.startswith("stopped")
    assert status.hint and "same command" in status.hint  # the engine words it for the terminal
    message, hint = recorded_error(status)
    assert message == status.error and "db-migrate-all" in hint
    # A run whose stored report says the databases differ points at db-verify; a hint said for people stays.
    differs = dataclasses.replace(status, error="verification found differences", hint=None,
                                  report={"ok": False, "verify": {"ok": False}})
    assert recorded_error(differs)[1] == "open db-verify to see each difference"
    said = dataclasses.replace(status, error="another migration is running", hint="wait for it to finish")
    assert recorded_error(said) == ("another migration is running", "wait for it to finish")


def test_job_workers_keep_the_job_within_the_pool_size() -> None:
    assert [job_workers(n) for n in (1, 2, 3, 4, 5, 7, 10)] == [1, 1, 1, 1, 2, 3, 4]
    for size in range(3, 30):
        assert job_connection_limit(size) <= size
