"""No unbounded work inside a request: verification is background work (POST db-verify starts it, one at a time,
db-status follows it table by table, GET db-verify shows the latest report and starts nothing), the dry-run
preview goes through the request pools, and db-tables counts only small tables."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pghaul import events
from pghaul.engine import MigrateOptions, migrate
from pghaul.http import create_router
from pghaul.sample import fill_sample_database
from pghaul.verify import TableVerified
from tests.conftest import run_sql
from tests.test_http_helpers import AUTH, make_settings, poll_status
from tests.test_source_never_written import dump


@contextmanager
def _mounted(source_url: str, target_url: str, listener: events.Listener = events.ignore) -> Iterator[
    tuple[TestClient, Any]
]:
    router = create_router(make_settings(source_url, target_url), listener=listener)
    app = FastAPI()
    app.include_router(router, prefix="/api/admin")
    with TestClient(app) as client:
        yield client, router.runtime


def _migrated(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=4, memories_per_user=2)
    migrate(source_url, target_url, MigrateOptions(workers=1, verify=False))


def test_verify_runs_in_the_background_one_at_a_time_and_db_status_follows_it(
    source_url: str, target_url: str
) -> None:
    _migrated(source_url, target_url)
    source_before, target_before = dump(source_url), dump(target_url)
    release, held = threading.Event(), threading.Event()

    def hold_after_first_table(event: events.Event) -> None:
        if isinstance(event, TableVerified) and not release.is_set():
            held.set()
            release.wait(60)

    with _mounted(source_url, target_url, hold_after_first_table) as (client, _):
        began = time.monotonic()
        started = client.post("/api/admin/db-verify", headers=AUTH)
        assert started.status_code == 200, started.text
        body = started.json()
        assert body["success"] and body["state"] == "running" and body["started"] is True and body["jobId"]
        try:
            assert held.wait(60)
            assert time.monotonic() - began < 30  # the request returned; the comparison goes on without it
            again = client.post("/api/admin/db-verify", headers=AUTH).json()
            assert again["jobId"] == body["jobId"] and again["started"] is False  # one at a time
            blocked = client.get("/api/admin/db-schema", params={"phase": "post"}, headers=AUTH)
            assert blocked.status_code == 409 and "verification (db-verify) is running" in blocked.json()["error"]
            status = client.get("/api/admin/db-status", headers=AUTH).json()
            job = status["verifyJob"]
            assert job["jobId"] == body["jobId"] and job["state"] == "running" and job["ok"] is None
            assert job["verifyProgress"]["tablesChecked"] == 1
            assert job["verifyProgress"]["tablesTotal"] == len(status["tables"]) >= 4
            running = client.get("/api/admin/db-verify", headers=AUTH).json()
            assert running["state"] == "running" and running["verifyProgress"]["tablesChecked"] == 1
        finally:
            release.set()
        done = poll_status(client, lambda s: s["verifyJob"]["state"] != "running")["verifyJob"]
        assert done["state"] == "done" and done["ok"] is True, done
        assert done["verifyProgress"]["tablesChecked"] == done["verifyProgress"]["tablesTotal"]
        report = client.get("/api/admin/db-verify", headers=AUTH).json()
        assert report["state"] == "done" and report["from"] == "verify" and report["jobId"] == body["jobId"]
        assert report["ok"] is True and len(report["tables"]) == done["verifyProgress"]["tablesTotal"]
    # Verification reads: neither database changed.
    assert dump(source_url) == source_before and dump(target_url) == target_before


def test_get_db_verify_starts_nothing(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=2, memories_per_user=1)
    source_before, target_before = dump(source_url), dump(target_url)
    seen: list[events.Event] = []
    with _mounted(source_url, target_url, seen.append) as (client, runtime):
        reply = client.get("/api/admin/db-verify", headers=AUTH)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["success"] and body["state"] == "idle" and body["ok"] is None and "POST db-verify" in body["hint"]
        assert runtime.work.current("verify") is None
        assert client.get("/api/admin/db-status", headers=AUTH).json()["verifyJob"] is None
    assert not any(isinstance(e, TableVerified | events.PhaseStarted) for e in seen)
    assert dump(source_url) == source_before and dump(target_url) == target_before


def test_the_dry_run_preview_uses_the_request_pools(
    source_url: str, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pghaul import engine

    fill_sample_database(source_url, users=2, memories_per_user=1)
    source_before, target_before = dump(source_url), dump(target_url)
    with _mounted(source_url, target_url) as (client, _):
        # The pools' first connections, made before direct connections are forbidden below.
        assert client.get("/api/admin/db-tables", headers=AUTH).status_code == 200

        def no_direct_connection(*_: Any, **__: Any) -> Any:
            raise AssertionError("a request opened its own connection instead of borrowing from the pool")

        # Every engine module that opens sessions by itself, not only the facade's re-exported names.
        for module in (engine, engine.entries, engine.run):
            monkeypatch.setattr(module, "connect_source", no_direct_connection)
            monkeypatch.setattr(module, "connect_target", no_direct_connection)
        preview = client.post("/api/admin/db-migrate-all", params={"dryRun": "true"}, headers=AUTH)
        assert preview.status_code == 200, preview.text
        assert preview.json()["dryRun"] is True and "CREATE TABLE" in preview.json()["sql"]
    assert dump(source_url) == source_before and dump(target_url) == target_before


def test_db_tables_counts_only_small_tables(source_url: str, target_url: str) -> None:
    # Autovacuum is off for these tables, so the catalog's estimate stays what ANALYZE saw: a table whose
    # rowCount is the estimate, not today's count, was not counted.
    run_sql(source_url, """
        CREATE TABLE public.big (id int PRIMARY KEY, note text) WITH (autovacuum_enabled = false);
        INSERT INTO public.big SELECT g, 'row ' || g FROM generate_series(1, 20000) g;
        CREATE TABLE public.small (id int PRIMARY KEY) WITH (autovacuum_enabled = false);
        INSERT INTO public.small SELECT generate_series(1, 50);
        ANALYZE public.big, public.small;
        INSERT INTO public.big SELECT g, 'late ' || g FROM generate_series(20001, 25000) g;
        INSERT INTO public.small SELECT generate_series(51, 60);
    """)
    source_before, target_before = dump(source_url), dump(target_url)
    with _mounted(source_url, target_url) as (client, _):
        body = client.get("/api/admin/db-tables", headers=AUTH).json()
    tables = {t["name"]: t for t in body["tables"]}
    assert tables["big"]["rowCount"] == 20000 and tables["big"]["rowCountExact"] is False
    assert tables["small"]["rowCount"] == 60 and tables["small"]["rowCountExact"] is True
    assert body["totalRows"] == 20060 and body["totalTables"] == 2
    assert set(tables["big"]) == set(tables["small"]) >= {"name", "rowCount", "primaryKey", "pkDataType",
                                                            "pkIsNumeric", "existsInNewDB"}
    assert dump(source_url) == source_before and dump(target_url) == target_before
