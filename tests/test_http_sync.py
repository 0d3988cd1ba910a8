"""Sync and the guided cutover through the admin API, on real servers: POST db-sync after a migration brings over
exactly what changed (GET db-sync shows each table as it finishes, then the report), verify agrees; refusals
(no secret, a running migration, a dropped column) say why and change nothing; the cutover catches up, finishes
with the source frozen (window, verify, switch instructions), and db-unfreeze makes the source writable again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from pghaul import events
from pghaul.engine import MigrateOptions, migrate
from pghaul.http import create_app
from pghaul.kinds import Phase
from pghaul.sync.progress import TableSynced
from tests.conftest import run_sql
from tests.test_http_helpers import AUTH, PASSWORD, SECRET, database_state, make_settings, poll_status

WAIT_SECONDS = 120.0

SCHEMA = """
CREATE TABLE public.accounts (id serial PRIMARY KEY, email text UNIQUE NOT NULL, name text);
CREATE TABLE public.orders (id bigint PRIMARY KEY, account_id int NOT NULL REFERENCES public.accounts (id),
                            total numeric(12, 2));
INSERT INTO public.accounts (email, name) SELECT 'user' || i || '@example.com', 'user ' || i
  FROM generate_series(1, 1500) AS i;
INSERT INTO public.orders SELECT i, 1 + i % 1500, i * 1.25 FROM generate_series(1, 3000) AS i;
SELECT lo_from_bytea(7001, 'first'::bytea);
"""

# On the source after the migration: accounts 2 inserted, 2 updated, 1 deleted; orders 1 inserted, 2 updated
# (account 7's: 6 and 1506), 2 deleted (account 1499's: 1498 and 2998); one new large object; the accounts
# sequence moves on.
CHANGES = """
INSERT INTO public.accounts (email, name) VALUES ('new1@example.com', 'new one'), ('new2@example.com', 'new two');
UPDATE public.accounts SET name = 'renamed' WHERE id IN (10, 1200);
DELETE FROM public.orders WHERE account_id = 1499;
DELETE FROM public.accounts WHERE id = 1499;
INSERT INTO public.orders VALUES (900001, 1501, 9.99);
UPDATE public.orders SET total = total + 1 WHERE account_id = 7;
SELECT lo_from_bytea(7002, 'second'::bytea);
"""
CHANGED_ROWS = 10


def _poll(client: TestClient, path: str, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """GET ``path`` until ``until`` holds; a hung job fails the test instead of hanging it."""
    deadline = time.monotonic() + WAIT_SECONDS
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(path, headers=AUTH)
        assert response.status_code == 200, response.text
        body = response.json()
        if until(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{path} never reached the expected state; last: {body}")


def _not_running(body: dict[str, Any]) -> bool:
    return body["state"] in ("done", "failed")


def _migrated(source_url: str, target_url: str) -> None:
    run_sql(source_url, SCHEMA)
    migrate(source_url, target_url, MigrateOptions(workers=1, verify=False))


def _by_table(report: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    return {t["table"]: (t["rowsInserted"], t["rowsUpdated"], t["rowsDeleted"]) for t in report["tables"]}


def _verified(client: TestClient) -> dict[str, Any]:
    assert client.post("/api/admin/db-verify", headers=AUTH).json()["started"] is True
    return _poll(client, "/api/admin/db-verify", _not_running)


class HoldAtFirstTableSynced:
    """Holds the sync once its first table is compared, until the test lets it go: "the middle of a sync" is a
    state the test controls rather than a moment it must catch."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, TableSynced) and not self.reached.is_set():
            self.reached.set()
            self.release.wait(WAIT_SECONDS)
        if isinstance(event, events.Notice) and "shutting down" in event.message:
            self.release.set()


def test_db_sync_after_a_migration_brings_over_what_changed_and_verify_agrees(
    source_url: str, target_url: str
) -> None:
    run_sql(source_url, SCHEMA)
    hold = HoldAtFirstTableSynced()
    with TestClient(create_app(make_settings(source_url, target_url), listener=hold)) as client:
        assert client.get("/api/admin/db-sync", headers=AUTH).json()["state"] == "idle"
        assert client.post("/api/admin/db-migrate-all", headers=AUTH).json()["started"] is True
        assert poll_status(client, _not_running)["state"] == "done"
        run_sql(source_url, CHANGES)

        started = client.post("/api/admin/db-sync", headers=AUTH).json()
        assert started["success"] and started["started"] is True and started["state"] == "running"
        assert hold.reached.wait(WAIT_SECONDS), "the sync never finished a table"
        # Held after its first table: progress shows it with its counts; the same job is shown, not a second.
        running = client.get("/api/admin/db-sync", headers=AUTH).json()
        assert running["state"] == "running" and running["jobId"] == started["jobId"]
        assert running["progress"]["tablesTotal"] == 2 and len(running["progress"]["tablesDone"]) == 1
        first = running["progress"]["tablesDone"][0]
        assert first["table"] in ("public.accounts", "public.orders") and first["rowsChanged"] > 0
        again = client.post("/api/admin/db-sync", headers=AUTH).json()
        assert again["jobId"] == started["jobId"] and again["started"] is False
        # One job at a time per target: a verification is refused while the sync runs; the finished migration
        # is only shown, not started again.
        refused = client.post("/api/admin/db-verify", headers=AUTH)
        assert refused.status_code == 409 and "a sync (db-sync) is running" in refused.json()["error"]
        shown = client.post("/api/admin/db-migrate-all", headers=AUTH).json()
        assert shown["state"] == "done" and shown["started"] is False
        hold.release.set()

        done = _poll(client, "/api/admin/db-sync", _not_running)
        assert done["state"] == "done", done
        report = done["report"]
        assert _by_table(report) == {"public.accounts": (2, 2, 1), "public.orders": (1, 2, 2)}
        assert (report["rowsInserted"], report["rowsUpdated"], report["rowsDeleted"]) == (3, 4, 3)
        assert report["rangesCompared"] >= 2 and 2 <= report["rangesDiffering"] <= report["rangesCompared"]
        assert report["largeObjects"]["added"] == 1 and report["sequencesAdvanced"] >= 1
        assert report["changes"] >= CHANGED_ROWS + 2 and report["seconds"] > 0
        assert "ranges compared" in report["summary"]
        assert PASSWORD not in str(done) and SECRET not in str(done)

        verdict = _verified(client)
        assert verdict["state"] == "done" and verdict["ok"] is True, verdict

        # Nothing changed since: a second sync writes nothing.
        client.post("/api/admin/db-sync", headers=AUTH)
        assert _poll(client, "/api/admin/db-sync", _not_running)["report"]["changes"] == 0


def test_sync_and_cutover_need_the_secret_in_the_header_and_a_well_formed_body(
    source_url: str, target_url: str
) -> None:
    _migrated(source_url, target_url)
    run_sql(source_url, CHANGES)
    before = database_state(target_url), database_state(source_url)
    with TestClient(create_app(make_settings(source_url, target_url))) as client:
        for method, path, body in (("POST", "db-sync", None), ("GET", "db-sync", None),
                                   ("POST", "db-cutover", {"step": "catch-up"}), ("GET", "db-cutover", None),
                                   ("POST", "db-unfreeze", None)):
            url = "/api/admin/" + path
            for headers, params in (({}, {}), ({"X-Migration-Secret": "wrong-" + SECRET}, {}),
                                    ({}, {"secret": SECRET})):
                response = client.request(method, url, headers=headers, params=params, json=body)
                assert response.status_code == 401, (method, path, headers, params, response.text)
                assert response.json()["success"] is False
        # Changing things is POST only: a GET on what starts or undoes something is refused.
        assert client.get("/api/admin/db-unfreeze", headers=AUTH).status_code == 405
        for wrong in ({}, {"step": "now"}, {"step": "catch-up", "freezeSource": True}, {"step": "finish", "x": 1}):
            response = client.post("/api/admin/db-cutover", headers=AUTH, json=wrong)
            assert response.status_code == 400 and response.json()["hint"], (wrong, response.text)
        assert client.get("/api/admin/db-cutover", headers=AUTH).json()["stage"] == "idle"
    assert (database_state(target_url), database_state(source_url)) == before


def test_a_running_migration_refuses_a_sync_and_a_catch_up(source_url: str, target_url: str) -> None:
    run_sql(source_url, SCHEMA)
    reached, release = threading.Event(), threading.Event()

    def hold_at_first_chunk(event: events.Event) -> None:
        if isinstance(event, events.TableProgress) and event.rows_done > 0 and not reached.is_set():
            reached.set()
            release.wait(WAIT_SECONDS)
        if isinstance(event, events.Notice) and "shutting down" in event.message:
            release.set()

    with TestClient(create_app(make_settings(source_url, target_url), listener=hold_at_first_chunk)) as client:
        assert client.post("/api/admin/db-migrate-all", params={"batchSize": 100}, headers=AUTH).json()["started"]
        try:
            assert reached.wait(WAIT_SECONDS), "the migration never copied a chunk"
            for path, body in (("db-sync", None), ("db-cutover", {"step": "catch-up"}),
                               ("db-cutover", {"step": "finish", "freezeSource": True})):
                refused = client.post("/api/admin/" + path, headers=AUTH, json=body)
                assert refused.status_code == 409, refused.text
                assert "a full migration (db-migrate-all) is running" in refused.json()["error"]
                assert refused.json()["hint"]
            assert client.get("/api/admin/db-sync", headers=AUTH).json()["state"] == "idle"
            assert client.get("/api/admin/db-cutover", headers=AUTH).json()["frozen"] is False
        finally:
            release.set()
        assert poll_status(client, _not_running)["state"] == "done"


def test_a_refused_sync_shows_the_error_and_its_hint_and_changes_nothing(source_url: str, target_url: str) -> None:
    _migrated(source_url, target_url)
    run_sql(source_url, "ALTER TABLE public.accounts DROP COLUMN name; INSERT INTO public.orders VALUES (900002, 3, 1)")
    before = database_state(target_url)
    with TestClient(create_app(make_settings(source_url, target_url))) as client:
        assert client.post("/api/admin/db-sync", headers=AUTH).json()["started"] is True
        failed = _poll(client, "/api/admin/db-sync", _not_running)
        assert failed["state"] == "failed" and "report" not in failed
        assert "column public.accounts.name is on the target but no longer on the source" in failed["error"]
        assert "nothing was synced" in failed["error"] and "make the same change on the target" in failed["hint"]
        # The kind of refusal and the status a request refused for it gets (pghaul.http.errors).
        assert failed["code"] == "safety" and failed["status"] == 409
        assert failed["progress"]["tablesDone"] == []
        assert PASSWORD not in str(failed)
    assert database_state(target_url) == before


class HoldFinishAfterFreeze:
    """Holds the cutover's finish at the start of its last sync, after the freeze, until the test lets it go."""

    def __init__(self) -> None:
        self.finishing = False
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.PhaseStarted) and event.phase == Phase.CUTOVER:
            self.finishing = True
        elif isinstance(event, events.PhaseStarted) and event.phase == Phase.SYNC and self.finishing:
            self.reached.set()
            self.release.wait(WAIT_SECONDS)
        elif isinstance(event, events.Notice) and "shutting down" in event.message:
            self.release.set()


def _writable(url: str) -> bool:
    """Whether a new session on ``url`` may write (the freeze makes new sessions read-only)."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute("CREATE TEMP TABLE probe (x int); INSERT INTO probe VALUES (1)")
        except psycopg.errors.ReadOnlySqlTransaction:
            return False
    return True


def _catch_up(client: TestClient) -> dict[str, Any]:
    started = client.post("/api/admin/db-cutover", headers=AUTH, json={"step": "catch-up"}).json()
    assert started["started"] is True and started["step"] == "catch-up"
    caught_up = _poll(client, "/api/admin/db-cutover", lambda d: d["stage"] != "catching-up")
    assert caught_up["stage"] == "caught-up", caught_up
    return caught_up


def _finish_held(client: TestClient, hold: HoldFinishAfterFreeze) -> None:
    """Finish with the source frozen, seen while held after the freeze: the source is read-only, its freeze is
    shown, and an unfreeze is refused while the finish runs (it would let writes in under its last sync)."""
    started = client.post("/api/admin/db-cutover", headers=AUTH, json={"step": "finish", "freezeSource": True})
    assert started.json()["started"] is True and started.json()["step"] == "finish", started.text
    assert hold.reached.wait(WAIT_SECONDS), "the finish never started its last sync"
    finishing = client.get("/api/admin/db-cutover", headers=AUTH).json()
    assert finishing["stage"] == "finishing" and finishing["state"] == "running"
    assert finishing["frozen"] is True  # read on a new pool session: the freeze ended the pool's old ones
    refused = client.post("/api/admin/db-unfreeze", headers=AUTH)
    assert refused.status_code == 409 and "the cutover's finish (db-cutover) is running" in refused.json()["error"]
    assert "wait until db-cutover shows it finished" in refused.json()["hint"]
    hold.release.set()


def test_cutover_catches_up_finishes_frozen_and_unfreeze_makes_the_source_writable(
    source_url: str, target_url: str
) -> None:
    _migrated(source_url, target_url)
    run_sql(source_url, CHANGES)
    hold = HoldFinishAfterFreeze()
    with TestClient(create_app(make_settings(source_url, target_url), listener=hold)) as client:
        idle = client.get("/api/admin/db-cutover", headers=AUTH).json()
        assert idle["stage"] == "idle" and idle["frozen"] is False

        caught_up = _catch_up(client)
        rounds = caught_up["catchUp"]["rounds"]
        assert rounds[0]["round"] == 1 and rounds[0]["changes"] >= CHANGED_ROWS + 2
        assert rounds[0]["rowsChanged"] == CHANGED_ROWS
        assert caught_up["catchUp"]["left"] == rounds[-1]["changes"] and caught_up["frozen"] is False

        # The app writes a little more before its writes pause: the finish's last sync carries it.
        run_sql(source_url, "UPDATE public.accounts SET name = 'last write' WHERE id = 3")
        _finish_held(client, hold)
        finished = _poll(client, "/api/admin/db-cutover", lambda d: d["stage"] != "finishing")
        assert finished["stage"] == "finished" and finished["state"] == "done", finished
        report = finished["report"]
        assert report["ok"] is True and report["verify"]["ok"] is True
        assert report["writeFreezeSeconds"] > 0 and report["sync"]["rowsUpdated"] == 1
        assert "frozen" in report["freeze"] and finished["frozen"] is True
        steps = report["instructions"]
        assert (steps["variable"], steps["newValueFrom"]) == ("DATABASE_URL", "NEW_DATABASE_URL")
        assert any("set DATABASE_URL to the value of NEW_DATABASE_URL" in s for s in steps["steps"])
        assert any("unfreeze" in s.lower() for s in steps["rollback"])
        assert PASSWORD not in str(finished) and SECRET not in str(finished)
        assert not _writable(source_url)  # read-only for new sessions

        unfrozen = client.post("/api/admin/db-unfreeze", headers=AUTH).json()
        assert unfrozen["outcome"] == "unfrozen" and unfrozen["frozen"] is False and PASSWORD not in str(unfrozen)
        assert _writable(source_url)
        assert client.get("/api/admin/db-cutover", headers=AUTH).json()["frozen"] is False
        again = client.post("/api/admin/db-unfreeze", headers=AUTH).json()
        assert again["outcome"] == "not frozen"


@pytest.fixture(autouse=True)
def _unfrozen_after(source_url: str) -> Any:
    """A test failing while the source is frozen leaves it as it found it (the database is dropped after)."""
    yield
    from pghaul.engine.freeze import unfreeze_source

    unfreeze_source(source_url)
