"""The old browser walk-through, unchanged, on pghaul: db-tables → db-schema (dry run, then real) → db-migrate-data
batch after batch → the post-data phase starts by itself → the target equals the source."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from pghaul.http import create_app
from pghaul.sample import SAMPLE_TABLES, fill_sample_database
from tests.conftest import run_sql
from tests.test_http_helpers import AUTH, count_rows, make_settings, poll_status, user_relations

BATCH = 7


def _index_methods(url: str) -> set[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT i.relname, am.amname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " JOIN pg_am am ON am.oid = i.relam JOIN pg_namespace n ON n.oid = i.relnamespace"
            " WHERE n.nspname = 'public'"
        ).fetchall()
    return {(r[0], r[1]) for r in rows}


def _foreign_keys(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
        ).fetchall()
    return {r[0] for r in rows}


def _sequence_position(url: str) -> tuple[int, bool]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT last_value, is_called FROM public.users_id_seq").fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])


def _copy_table(client: TestClient, name: str, listed: dict, source_url: str, target_url: str) -> bool:
    """db-migrate-data with each nextCursor until hasMore is false; True if a reply said the post-data started."""
    dry_batch = client.get(
        "/api/admin/db-migrate-data", params={"table": name, "batchSize": BATCH, "dryRun": "true"}, headers=AUTH,
    ).json()
    assert dry_batch["success"] and dry_batch["table"] == name
    assert count_rows(target_url, f"public.{name}") == 0  # a dry batch writes nothing

    post_data_started = False
    cursor: str | None = None
    first_cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"table": name, "batchSize": BATCH}
        if cursor is not None:
            params["cursor"] = cursor
        reply = client.get("/api/admin/db-migrate-data", params=params, headers=AUTH)
        assert reply.status_code == 200, reply.text
        batch = reply.json()
        assert batch["success"] and batch["batchSize"] == BATCH
        if listed["primaryKey"] is not None:
            assert batch["insertedCount"] <= BATCH
        post_data_started = post_data_started or batch.get("postData") == "started"
        if not batch["hasMore"]:
            break
        cursor = batch["nextCursor"]
        assert cursor
        first_cursor = first_cursor or cursor
    assert count_rows(target_url, f"public.{name}") == count_rows(source_url, f"public.{name}")
    if first_cursor is not None:
        # Re-sending a cursor moves nothing twice; a tampered one is refused.
        repeat = client.get("/api/admin/db-migrate-data",
                            params={"table": name, "batchSize": BATCH, "cursor": first_cursor}, headers=AUTH).json()
        assert repeat["insertedCount"] == 0 and repeat["skippedCount"] > 0
        tampered = first_cursor[:-2] + ("AA" if not first_cursor.endswith("AA") else "BB")
        bad = client.get("/api/admin/db-migrate-data", params={"table": name, "cursor": tampered}, headers=AUTH)
        assert bad.status_code == 400 and bad.json()["success"] is False
        assert count_rows(target_url, f"public.{name}") == count_rows(source_url, f"public.{name}")
    return post_data_started


def test_the_old_walk_through_end_to_end(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=6, memories_per_user=3)
    # Large objects belong to no table: the post-data phase after the last batch carries them.
    run_sql(source_url, "CREATE TABLE attachments (id int PRIMARY KEY, blob oid);"
                        "INSERT INTO attachments VALUES (1, lo_from_bytea(0, 'hello')), (2, lo_from_bytea(0, ''))")
    app = create_app(make_settings(source_url, target_url))
    with TestClient(app) as client:
        listing = client.get("/api/admin/db-tables", headers=AUTH)
        assert listing.status_code == 200, listing.text
        body = listing.json()
        tables = {t["name"]: t for t in body["tables"]}
        assert set(SAMPLE_TABLES) <= set(tables)
        assert body["totalTables"] == len(body["tables"])
        assert body["totalRows"] == sum(t["rowCount"] for t in body["tables"])
        assert tables["users"]["rowCount"] == count_rows(source_url, "public.users")
        assert tables["sessions"]["primaryKey"] == "user_id, session_no"
        assert tables["sessions"]["primaryKeyColumns"] == ["user_id", "session_no"]
        assert tables["users"]["pkIsNumeric"] is True and tables["conversations"]["pkIsNumeric"] is False
        assert tables["conversations"]["pkDataType"] == "uuid"
        assert tables["audit_log"]["primaryKey"] is None
        assert not any(t["existsInNewDB"] for t in tables.values())

        dry = client.get("/api/admin/db-schema", params={"dryRun": "true"}, headers=AUTH).json()
        assert dry["success"] and dry["dryRun"] is True
        assert {r["table"] for r in dry["results"]} >= set(SAMPLE_TABLES)
        assert all("CREATE TABLE" in r["sql"] and r["created"] is False for r in dry["results"])
        assert "hnsw" in dry["postData"]["sql"] and "FOREIGN KEY" in dry["postData"]["sql"]
        assert user_relations(target_url) == []  # the dry run wrote nothing

        real = client.get("/api/admin/db-schema", headers=AUTH).json()
        assert real["success"] and real["dryRun"] is False
        assert all(r["created"] and r["success"] for r in real["results"])
        assert not any(m == "hnsw" for _, m in _index_methods(target_url))  # post-data waits for the data
        post_preview = client.get("/api/admin/db-schema", params={"phase": "post", "dryRun": "true"}, headers=AUTH)
        assert "hnsw" in post_preview.json()["postData"]["sql"]
        assert not any(m == "hnsw" for _, m in _index_methods(target_url))
        assert _foreign_keys(target_url) == set()
        again = client.get("/api/admin/db-schema", headers=AUTH).json()
        assert not any(r["created"] for r in again["results"])  # idempotent: nothing twice
        relisted = client.get("/api/admin/db-tables", headers=AUTH).json()
        assert all(t["existsInNewDB"] for t in relisted["tables"])

        names = list(tables)
        half = len(names) // 2
        started = [name for name in names[:half] if _copy_table(client, name, tables[name], source_url, target_url)]
        assert started == []

    # A server restarted in the middle of the walk-through still knows which tables are done.
    with TestClient(create_app(make_settings(source_url, target_url))) as client:
        started = [name for name in names[half:] if _copy_table(client, name, tables[name], source_url, target_url)]
        assert started == [names[-1]]  # only the very last batch starts the post-data phase
        progress = {t["name"]: t for t in client.get("/api/admin/db-status", headers=AUTH).json()["tables"]}
        assert all(progress[name]["done"] for name in names)
        status = poll_status(client, lambda s: bool(s["postData"]) and s["postData"]["state"] != "running")
        assert status["postData"]["state"] == "done", status

        assert ("persistent_memories_embedding_idx", "hnsw") in _index_methods(target_url)
        assert _foreign_keys(target_url) == _foreign_keys(source_url) != set()
        assert _sequence_position(target_url) == _sequence_position(source_url) == (6, True)

        verdict = client.get("/api/admin/db-verify", headers=AUTH)
        assert verdict.status_code == 200, verdict.text
        assert verdict.json()["ok"] is True, verdict.json().get("differences", verdict.json())
        with psycopg.connect(target_url) as conn:
            blobs = conn.execute("SELECT id, lo_get(blob) FROM attachments ORDER BY id").fetchall()
        assert blobs == [(1, b"hello"), (2, b"")]


def test_the_post_data_phase_on_request_builds_indexes_keys_and_sequences(source_url: str, target_url: str) -> None:
    fill_sample_database(source_url, users=6, memories_per_user=3)
    with TestClient(create_app(make_settings(source_url, target_url))) as client:
        tables = {t["name"]: t for t in client.get("/api/admin/db-tables", headers=AUTH).json()["tables"]}
        assert client.get("/api/admin/db-schema", headers=AUTH).json()["success"]
        # Every table but one in: the last batch of the last table would start the phase by itself.
        for name in [n for n in tables if n != "audit_log"]:
            assert not _copy_table(client, name, tables[name], source_url, target_url)
        assert not any(m == "hnsw" for _, m in _index_methods(target_url)) and _foreign_keys(target_url) == set()
        assert _sequence_position(target_url) != _sequence_position(source_url)

        reply = client.get("/api/admin/db-schema", params={"phase": "post", "dryRun": "false"}, headers=AUTH)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["success"] and body["dryRun"] is False and body["phase"] == "post"
        assert body["postData"] == "started" and body["jobId"]
        status = poll_status(client, lambda s: bool(s["postData"]) and s["postData"]["state"] != "running")
        assert status["postData"]["state"] == "done" and status["postData"]["jobId"] == body["jobId"], status

        assert ("persistent_memories_embedding_idx", "hnsw") in _index_methods(target_url)
        assert _foreign_keys(target_url) == _foreign_keys(source_url) != set()
        assert _sequence_position(target_url) == _sequence_position(source_url) == (6, True)
        # Asked again, the phase finds everything in place and changes nothing.
        before = _index_methods(target_url)
        repeat = client.get("/api/admin/db-schema", params={"phase": "post"}, headers=AUTH).json()
        assert repeat["postData"] == "started"
        status = poll_status(client, lambda s: s["postData"]["jobId"] == repeat["jobId"]
                             and s["postData"]["state"] != "running")
        assert status["postData"]["state"] == "done", status
        assert _index_methods(target_url) == before


def _all_batches(client: TestClient, name: str) -> list[dict]:
    """db-migrate-data without batchSize, following nextCursor until hasMore is false."""
    replies: list[dict] = []
    params: dict[str, str] = {"table": name}
    while True:
        response = client.get("/api/admin/db-migrate-data", params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        replies.append(response.json())
        if not replies[-1]["hasMore"]:
            return replies
        params = {"table": name, "cursor": replies[-1]["nextCursor"]}
        assert len(replies) < 10


def test_walk_through_with_a_non_public_schema_and_a_table_without_key(source_url: str, target_url: str) -> None:
    run_sql(
        source_url,
        """
        CREATE SCHEMA app;
        CREATE TABLE app.items (id bigint PRIMARY KEY, label text NOT NULL);
        INSERT INTO app.items SELECT g, 'item ' || g FROM generate_series(1, 2500) g;
        CREATE TABLE public.loose (n integer, note text);
        INSERT INTO public.loose SELECT g % 700, 'row ' || g FROM generate_series(1, 1500) g;
        ANALYZE;
        """,
    )
    with TestClient(create_app(make_settings(source_url, target_url))) as client:
        listed = {t["name"]: t for t in client.get("/api/admin/db-tables", headers=AUTH).json()["tables"]}
        assert set(listed) == {"app.items", "loose"}
        assert listed["app.items"]["schema"] == "app" and listed["app.items"]["primaryKey"] == "id"
        assert listed["app.items"]["rowCount"] == 2500
        assert listed["loose"]["schema"] == "public" and listed["loose"]["primaryKey"] is None
        assert listed["loose"]["primaryKeyColumns"] == []

        schema = client.get("/api/admin/db-schema", headers=AUTH).json()
        assert {r["table"]: r["created"] for r in schema["results"]} == {"app.items": True, "loose": True}

        items = _all_batches(client, "app.items")
        assert all(r["table"] == "app.items" and r["batchSize"] == 1000 for r in items)  # the default batch
        assert [r["insertedCount"] for r in items] == [1000, 1000, 500]
        assert count_rows(target_url, "app.items") == 2500

        # No key: the whole table in one call, more rows than a batch, nothing left to ask for.
        loose = _all_batches(client, "loose")
        assert len(loose) == 1
        assert loose[0]["hasMore"] is False and loose[0]["insertedCount"] == 1500 and loose[0]["batchSize"] == 1000
        assert count_rows(target_url, "public.loose") == 1500
        assert "started" in (items[-1].get("postData"), loose[0].get("postData"))

        status = poll_status(client, lambda s: bool(s["postData"]) and s["postData"]["state"] != "running")
        assert status["postData"]["state"] == "done", status
        verdict = client.get("/api/admin/db-verify", headers=AUTH).json()
        assert verdict["ok"] is True, verdict
