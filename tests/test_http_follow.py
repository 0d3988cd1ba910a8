"""Follow through the admin API, on real servers started with wal_level = logical (``tests/logical_servers.py``):
db-preflight?follow=true says whether the target can follow the source and why not, writing nothing; db-migrate-all
with ``{"follow": true}`` copies and subscribes (or fails before writing, with every reason); db-status shows the
replication state, the lag and each table; the cutover's finish on a following target waits for zero lag,
verifies and takes follow down; db-stop-follow gives follow up. Nothing of follow is left on either server, and
no reply carries the secret or a password."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import make_conninfo

from pghaul import events
from pghaul.follow import ReplicationCatchUp
from pghaul.http import create_app
from tests.conftest import run_sql
from tests.fixtures_data import database_digest
from tests.follow_helpers import fill_app, replication_objects, written_state
from tests.test_http_helpers import AUTH, PASSWORD, SECRET, make_settings, poll_status

pytest_plugins = ["tests.logical_servers"]

WAIT_SECONDS = 120.0
REPLICATION = {"subscription", "replication slot", "publication"}

# What the app writes on the source once the target follows it.
APP_WRITES = """
INSERT INTO account (name) VALUES ('written while following');
UPDATE tag SET note = 'changed while following' WHERE name = 'tag 1';
DELETE FROM entry WHERE account_id = 2;
"""


class Replies:
    """Every reply a test read, to check at the end that none carries the secret or a database password."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, response: Any) -> dict[str, Any]:
        self.seen.append(response.text)
        return response.json()  # type: ignore[no-any-return]

    def assert_clean(self) -> None:
        assert self.seen
        for text in self.seen:
            assert SECRET not in text and PASSWORD not in text, text


def _poll(client: TestClient, path: str, until: Callable[[dict[str, Any]], bool], seen: Replies) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(path, headers=AUTH)
        assert response.status_code == 200, response.text
        body = seen(response)
        if until(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{path} never reached the expected state; last: {body}")


def _finished(body: dict[str, Any]) -> bool:
    return body["state"] in ("done", "failed")


def _streaming(body: dict[str, Any]) -> bool:
    follow = body["follow"]
    return follow is not None and follow["state"] == "streaming" and follow["lagBytes"] is not None


def nothing_left(source_url: str, target_url: str) -> None:
    """No slot, publication or subscription of either database."""
    assert replication_objects(source_url, server_wide=False) == ([], [], [])
    assert replication_objects(target_url, server_wide=False) == ([], [], [])


def _rows(url: str, query: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[call-overload]
    assert row is not None
    return int(row[0])


def _migrate_with_follow(client: TestClient, seen: Replies) -> dict[str, Any]:
    started = seen(client.post("/api/admin/db-migrate-all", headers=AUTH, json={"follow": True}))
    assert started["started"] is True and started["state"] == "running", started
    done = poll_status(client, _finished, timeout=WAIT_SECONDS)
    seen.seen.append(str(done))
    assert done["state"] == "done", done
    return done


@pytest.fixture
def unfrozen_source(logical_source_url: str) -> Iterator[str]:
    """The logical source, left as it was found by a test failing while it is frozen."""
    yield logical_source_url
    from pghaul.engine.freeze import unfreeze_source

    unfreeze_source(logical_source_url)


def test_preflight_says_follow_is_possible_on_a_logical_pair_and_writes_nothing(
    logical_source_url: str, logical_target_url: str
) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=200)
    seen = Replies()
    before = written_state(source, target)
    with TestClient(create_app(make_settings(source, target))) as client:
        plain = seen(client.get("/api/admin/db-preflight", headers=AUTH))
        assert "follow" not in plain  # the probe runs only when asked for
        checked = seen(client.get("/api/admin/db-preflight", params={"follow": "true"}, headers=AUTH))
    follow = checked["follow"]
    assert follow["possible"] is True and follow["probed"] is True and follow["blockers"] == [], follow
    assert follow["name"].startswith("pghaul_")
    assert {c["code"] for c in follow["caveats"]} >= {"ddl", "sequences", "large-objects"}
    assert all(c["message"] and c["hint"] for c in follow["caveats"])
    assert written_state(source, target) == before
    seen.assert_clean()


def _subscription_conninfo(url: str) -> str:
    with psycopg.connect(url) as conn:  # a superuser's session: subconninfo is hidden from other roles
        row = conn.execute("SELECT subconninfo FROM pg_catalog.pg_subscription WHERE subname LIKE 'pghaul\\_%'"
                           ).fetchone()
    assert row is not None, "no subscription"
    return str(row[0])


def test_preflight_probes_the_source_as_follow_source_url_names_it(
    logical_source_url: str, logical_target_url: str
) -> None:
    """FOLLOW_SOURCE_URL is the address the target's server uses: one it cannot reach is the reason follow is not
    possible, while pghaul itself reaches DATABASE_URL; its password never shows."""
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=20)
    seen = Replies()
    before = written_state(source, target)
    unreachable = make_conninfo(source, host="/nonexistent-socket-dir", password="follow-url-Secret-9931")
    with TestClient(create_app(make_settings(source, target, follow_source_url=unreachable))) as client:
        reply = client.get("/api/admin/db-preflight", params={"follow": "true"}, headers=AUTH)
    follow = seen(reply)["follow"]
    assert follow["possible"] is False
    assert "source-unreachable" in {b["code"] for b in follow["blockers"]}, follow
    assert "follow-url-Secret-9931" not in reply.text
    assert written_state(source, target) == before
    seen.assert_clean()


def test_follow_on_an_ordinary_server_is_refused_with_the_reason_and_nothing_written(
    source_url: str, target_url: str
) -> None:
    run_sql(source_url, "CREATE TABLE item (id bigint PRIMARY KEY, label text);"
                        " INSERT INTO item SELECT g, 'item ' || g FROM generate_series(1, 50) g")
    seen = Replies()
    before = written_state(source_url, target_url)
    with TestClient(create_app(make_settings(source_url, target_url))) as client:
        for method, path, params in (("GET", "db-preflight", {"follow": "true"}), ("POST", "db-stop-follow", {}),
                                     ("POST", "db-follow", {}), ("GET", "db-follow", {})):
            refused = client.request(method, "/api/admin/" + path, params=params)
            assert refused.status_code == 401, refused.text
        assert client.get("/api/admin/db-stop-follow", headers=AUTH).status_code == 405  # it changes things

        follow = seen(client.get("/api/admin/db-preflight", params={"follow": "true"}, headers=AUTH))["follow"]
        assert follow["possible"] is False
        wal = next(b for b in follow["blockers"] if b["code"] == "wal-level")
        assert "wal_level is replica" in wal["message"] and "wal_level = logical" in wal["hint"]

        # Asked for anyway: the job fails before writing, with every reason; nothing of follow to show.
        bad = client.post("/api/admin/db-migrate-all", headers=AUTH, json={"follow": True, "slot": "mine"})
        assert bad.status_code == 400 and bad.json()["hint"]
        _migrate_refused(client, seen)
        assert seen(client.post("/api/admin/db-stop-follow", headers=AUTH))["outcome"] == "not following"
    assert written_state(source_url, target_url) == before
    seen.assert_clean()


def _migrate_refused(client: TestClient, seen: Replies) -> None:
    started = seen(client.post("/api/admin/db-migrate-all", headers=AUTH, json={"follow": True}))
    assert started["started"] is True
    failed = poll_status(client, _finished, timeout=WAIT_SECONDS)
    seen.seen.append(str(failed))
    assert failed["state"] == "failed", failed
    assert "follow is not possible" in failed["error"] and "wal_level is replica" in failed["error"]
    assert "pghaul sync" in failed["errors"][0]["hint"]  # the fallback is named
    blockers = failed["followRefused"]["preflight"]["blockers"]
    assert "wal-level" in {b["code"] for b in blockers} and all(b["message"] and b["hint"] for b in blockers)
    assert failed["follow"] is None


class HoldAtZeroLagWait:
    """Holds the follow cutover at its first report of the lag, until the test lets it go."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, ReplicationCatchUp) and not self.reached.is_set():
            self.reached.set()
            self.release.wait(WAIT_SECONDS)
        elif isinstance(event, events.Notice) and "shutting down" in event.message:
            self.release.set()


def test_migrate_with_follow_streams_then_the_cutover_waits_for_zero_lag_and_leaves_nothing(
    unfrozen_source: str, logical_target_url: str
) -> None:
    source, target = unfrozen_source, logical_target_url
    fill_app(source, accounts=300)
    seen = Replies()
    hold = HoldAtZeroLagWait()
    # FOLLOW_SOURCE_URL: the source as the target's server reaches it (here the same server, told apart by a
    # connect_timeout of its own) is what the subscription connects with — but for its application_name: the
    # walsender must go by the subscription's name, by which the replay lag in seconds is found.
    via = make_conninfo(source, connect_timeout="17", application_name="the-apps-name")
    with TestClient(create_app(make_settings(source, target, follow_source_url=via), listener=hold)) as client:
        done = _migrate_with_follow(client, seen)
        assert done["report"]["follow"]["start"] == "fresh" and done["report"]["follow"]["subscription"] == "created"
        assert "connect_timeout=17" in _subscription_conninfo(target)
        assert "the-apps-name" not in _subscription_conninfo(target)
        created = {(r["kind"], r["server"]) for r in done["live"]["replication"] if r["action"] == "created"}
        assert created == {("publication", "source"), ("replication slot", "source"), ("subscription", "target")}

        run_sql(source, APP_WRITES)  # the app writes on; replication carries it
        follow = _poll(client, "/api/admin/db-status", _streaming, seen)["follow"]
        assert follow["sourceKnown"] and follow["slot"]["active"] and follow["subscription"]["workerRunning"]
        assert follow["lagBytes"] >= 0 and follow["problems"] == [] and follow["copied"] is True
        assert [t["state"] for t in follow["tables"]] == ["ready"] * 6  # the partitions' leaves are published
        _poll(client, "/api/admin/db-status", lambda _: _rows(
            target, "SELECT count(*) FROM account WHERE name = 'written while following'") == 1, seen)
        _sync_refused_while_following(client, seen)

        _finish_held_at_the_lag(client, hold, seen)
        finished = _poll(client, "/api/admin/db-cutover", lambda d: d["stage"] != "finishing", seen)
        _assert_follow_finish(finished)
        assert seen(client.post("/api/admin/db-unfreeze", headers=AUTH))["outcome"] == "unfrozen"
        after = seen(client.get("/api/admin/db-status", headers=AUTH))
        assert after["follow"] is None and after["state"] == "done"
    nothing_left(source, target)
    assert database_digest(target) == database_digest(source)
    seen.assert_clean()


def _sync_refused_while_following(client: TestClient, seen: Replies) -> None:
    """Replication writes into the target: a sync or a catch-up writing there too is refused at once."""
    for path, body in (("db-sync", None), ("db-cutover", {"step": "catch-up"})):
        refused = client.post("/api/admin/" + path, headers=AUTH, json=body)
        assert refused.status_code == 409, refused.text
        assert "follows the source through logical replication" in seen(refused)["error"]
        assert "db-stop-follow" in refused.json()["hint"] and '"finish"' in refused.json()["hint"]
    # A migration without follow is not started again: it is complete (and following).
    shown = seen(client.post("/api/admin/db-migrate-all", headers=AUTH))
    assert shown["state"] == "done" and shown["started"] is False


def _finish_held_at_the_lag(client: TestClient, hold: HoldAtZeroLagWait, seen: Replies) -> None:
    """The finish on a following target is the follow cutover: seen while it waits for zero lag, with the source
    frozen; stopping follow under it is refused."""
    started = seen(client.post("/api/admin/db-cutover", headers=AUTH,
                               json={"step": "finish", "freezeSource": True}))
    assert started["started"] is True and started["step"] == "finish" and started["method"] == "follow", started
    assert hold.reached.wait(WAIT_SECONDS), "the finish never waited for the lag"
    waiting = seen(client.get("/api/admin/db-cutover", headers=AUTH))
    assert waiting["stage"] == "finishing" and waiting["frozen"] is True
    assert waiting["lag"]["lagBytes"] >= 0 and waiting["lag"]["targetLsn"], waiting
    refused = client.post("/api/admin/db-stop-follow", headers=AUTH)
    assert refused.status_code == 409 and "the cutover's finish (db-cutover) is running" in seen(refused)["error"]
    hold.release.set()


def _assert_follow_finish(finished: dict[str, Any]) -> None:
    assert finished["stage"] == "finished" and finished["state"] == "done", finished
    report = finished["report"]
    assert report["method"] == "follow" and report["ok"] is True and report["verify"]["ok"] is True, report
    assert 0 < report["writeFreezeSeconds"] < WAIT_SECONDS
    assert report["catchUp"]["lagBytesWhenPaused"] >= 0 and report["catchUp"]["targetLsn"]
    assert set(report["teardown"]["dropped"]) == REPLICATION and report["name"].startswith("pghaul_")
    assert any(s["sequence"] == "public.account_id_seq" for s in report["sequences"])
    assert report["largeObjects"] is not None and "frozen" in report["freeze"]
    steps = report["instructions"]
    assert (steps["variable"], steps["newValueFrom"]) == ("DATABASE_URL", "NEW_DATABASE_URL")
    assert any("unfreeze" in s.lower() for s in steps["rollback"])
    assert finished["frozen"] is True and "lag" not in finished


def test_stop_follow_leaves_nothing_and_sync_takes_over(logical_source_url: str, logical_target_url: str) -> None:
    source, target = logical_source_url, logical_target_url
    fill_app(source, accounts=100)
    seen = Replies()
    with TestClient(create_app(make_settings(source, target))) as client:
        _migrate_with_follow(client, seen)
        _poll(client, "/api/admin/db-status", _streaming, seen)
        assert replication_objects(source, server_wide=False)[0]  # the slot, keeping the source's WAL

        stopped = seen(client.post("/api/admin/db-stop-follow", headers=AUTH))
        assert stopped["outcome"] == "stopped" and set(stopped["dropped"]) == REPLICATION, stopped
        assert "db-sync" in stopped["message"]
        nothing_left(source, target)
        assert seen(client.get("/api/admin/db-status", headers=AUTH))["follow"] is None
        again = seen(client.post("/api/admin/db-stop-follow", headers=AUTH))
        assert again["outcome"] == "not following" and again["dropped"] == []

        # Without replication, sync brings over what the app wrote since.
        run_sql(source, APP_WRITES)
        assert seen(client.post("/api/admin/db-sync", headers=AUTH))["started"] is True
        synced = _poll(client, "/api/admin/db-sync", _finished, seen)
        assert synced["state"] == "done" and synced["report"]["rowsInserted"] >= 1, synced
        # A finish now is the sync cutover, where verifyRows has no meaning.
        refused = client.post("/api/admin/db-cutover", headers=AUTH, json={"step": "finish", "verifyRows": False})
        assert refused.status_code == 400 and "follows the source only" in seen(refused)["error"]
    nothing_left(source, target)
    assert database_digest(target) == database_digest(source)
    seen.assert_clean()


def _migrate_without_follow(client: TestClient, seen: Replies) -> None:
    started = seen(client.post("/api/admin/db-migrate-all", headers=AUTH))
    assert started["started"] is True, started
    done = poll_status(client, _finished, timeout=WAIT_SECONDS)
    seen.seen.append(str(done))
    assert done["state"] == "done" and done["follow"] is None, done


def test_db_follow_starts_following_a_target_migrated_without_it(
    unfrozen_source: str, logical_target_url: str
) -> None:
    source, target = unfrozen_source, logical_target_url
    fill_app(source, accounts=200)
    seen = Replies()
    with TestClient(create_app(make_settings(source, target))) as client:
        assert seen(client.get("/api/admin/db-follow", headers=AUTH))["state"] == "idle"
        _migrate_without_follow(client, seen)
        run_sql(source, APP_WRITES)  # written between the migration and follow: sync brings it in the snapshot

        started = seen(client.post("/api/admin/db-follow", headers=AUTH))
        assert started["started"] is True and started["state"] == "running", started
        done = _poll(client, "/api/admin/db-follow", _finished, seen)
        assert done["state"] == "done", done
        report = done["report"]
        assert report["follow"]["start"] == "adopt" and report["follow"]["subscription"] == "created", report
        assert report["sync"]["rowsInserted"] >= 1 and report["earlierDropped"] == [], report
        assert _rows(target, "SELECT count(*) FROM account WHERE name = 'written while following'") == 1

        follow = _poll(client, "/api/admin/db-status", _streaming, seen)["follow"]
        assert follow["copied"] is True and follow["slot"]["active"], follow
        # Following already: a second start is refused at once, in the engine's words; so is a sync.
        again = client.post("/api/admin/db-follow", headers=AUTH)
        assert again.status_code == 409 and "follows the source already" in seen(again)["error"], again.text
        assert again.json()["hint"]
        refused = client.post("/api/admin/db-sync", headers=AUTH)
        assert refused.status_code == 409, refused.text

        run_sql(source, "INSERT INTO account (name) VALUES ('written after follow started')")
        _poll(client, "/api/admin/db-status", lambda _: _rows(
            target, "SELECT count(*) FROM account WHERE name = 'written after follow started'") == 1, seen)

        assert seen(client.post("/api/admin/db-cutover", headers=AUTH, json={"step": "finish"}))["method"] == "follow"
        finished = _poll(client, "/api/admin/db-cutover", lambda d: d["stage"] != "finishing", seen)
        assert finished["state"] == "done" and finished["report"]["ok"] is True, finished
        assert set(finished["report"]["teardown"]["dropped"]) == REPLICATION
        assert seen(client.get("/api/admin/db-status", headers=AUTH))["follow"] is None
    nothing_left(source, target)
    assert database_digest(target) == database_digest(source)
    seen.assert_clean()


def test_db_follow_on_a_replica_level_pair_is_refused_with_the_reason_and_nothing_written(
    source_url: str, target_url: str
) -> None:
    run_sql(source_url, "CREATE TABLE item (id bigint PRIMARY KEY, label text);"
                        " INSERT INTO item SELECT g, 'item ' || g FROM generate_series(1, 50) g")
    seen = Replies()
    with TestClient(create_app(make_settings(source_url, target_url))) as client:
        _migrate_without_follow(client, seen)
        before = written_state(source_url, target_url)
        assert client.post("/api/admin/db-follow").status_code == 401
        started = seen(client.post("/api/admin/db-follow", headers=AUTH))
        assert started["started"] is True, started
        failed = _poll(client, "/api/admin/db-follow", _finished, seen)
        assert failed["state"] == "failed" and failed["status"] == 409, failed
        assert "follow is not possible" in failed["error"] and "wal_level is replica" in failed["error"]
        assert "wal_level = logical" in failed["hint"] and failed["code"]
        blockers = failed["followRefused"]["preflight"]["blockers"]
        assert "wal-level" in {b["code"] for b in blockers}
        assert seen(client.get("/api/admin/db-status", headers=AUTH))["follow"] is None
    assert written_state(source_url, target_url) == before
    nothing_left(source_url, target_url)
    seen.assert_clean()


def test_the_follow_endpoints_document_their_replies() -> None:
    app = create_app(make_settings("postgresql://u@127.0.0.1:1/a", "postgresql://u@127.0.0.1:1/b"))
    with TestClient(app) as client:
        document = client.get("/api/admin/openapi.json", headers=AUTH).json()
    paths = document["paths"]
    body = paths["/api/admin/db-migrate-all"]["post"]["requestBody"]
    assert body.get("required") is not True  # no body: a migration without follow, as always
    stop = paths["/api/admin/db-stop-follow"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert stop["$ref"].endswith("/StopFollowReply")
    follow = paths["/api/admin/db-follow"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert follow["$ref"].endswith("/FollowJobReply") and "post" in paths["/api/admin/db-follow"]
    assert "follow" in {p["name"] for p in paths["/api/admin/db-preflight"]["get"]["parameters"]}
    schemas = document["components"]["schemas"]
    assert {"follow", "followRefused"} <= set(schemas["StatusReply"]["properties"])
    assert {"lag", "report"} <= set(schemas["CutoverReply"]["properties"])
    assert {"FollowCutoverReport", "FollowStatusReply", "FollowPreflightReply"} <= set(schemas)
