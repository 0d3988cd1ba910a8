"""The whole migration as a background job: db-migrate-all, db-status until done, verify green; and a server
restarted in the middle of a job resumes it from the last committed chunk."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from pghaul import events
from pghaul.http import create_app
from pghaul.sample import SAMPLE_TABLES, fill_sample_database
from tests.test_http_helpers import AUTH, count_rows, make_settings, poll_status, user_relations


def _finished(status: dict) -> bool:
    return status["state"] in ("done", "failed")


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

        preview = client.post("/api/admin/db-migrate-all", params={"dryRun": "true"}, headers=AUTH).json()
        assert preview["dryRun"] is True and "CREATE TABLE" in preview["sql"]
        assert user_relations(target_url) == []

        started = client.post("/api/admin/db-migrate-all", headers=AUTH).json()
        assert started["success"] and started["state"] == "running" and started["jobId"]
        again = client.get("/api/admin/db-migrate-all", headers=AUTH).json()
        assert again["jobId"] == started["jobId"]  # a second call shows the same job, running or done

        status = poll_status(client, _finished)
        assert status["state"] == "done", status
        assert status["jobId"] == started["jobId"] and status["errors"] == []
        assert status["verify"] is not None and status["verify"]["ok"] is True
        done = {t["table"]: t for t in status["tables"]}
        for name in SAMPLE_TABLES:
            assert done[f"public.{name}"]["rowsDone"] == count_rows(source_url, f"public.{name}")
            assert done[f"public.{name}"]["done"] is True

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
    # Leaving the block shut the server down in the middle of the data phase.

    total = sum(count_rows(source_url, f"public.{name}") for name in SAMPLE_TABLES)
    with TestClient(create_app(make_settings(source_url, target_url))) as client:
        stopped = client.get("/api/admin/db-status", headers=AUTH).json()
        assert stopped["state"] == "failed" and stopped["jobId"] == first["jobId"]
        assert 0 < stopped["rowsDone"] < total

        resumed = client.post("/api/admin/db-migrate-all", params={"batchSize": 20}, headers=AUTH).json()
        assert resumed["jobId"] == first["jobId"] and resumed["resumed"] is True
        status = poll_status(client, _finished)
        assert status["state"] == "done", status
        assert status["verify"]["ok"] is True
        for name in SAMPLE_TABLES:
            assert count_rows(target_url, f"public.{name}") == count_rows(source_url, f"public.{name}")
