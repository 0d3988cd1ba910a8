"""The router mounted in someone else's app: same endpoints and error shape, its own lifespan, and every
connection back in its pool after every request, failed ones included; none left open after shutdown."""

from __future__ import annotations

import time

import psycopg
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict

from pghaul.http import create_router
from pghaul.sample import fill_sample_database
from pghaul.settings import Settings
from tests.test_http_helpers import AUTH, make_settings


def _pghaul_sessions(admin_url: str, *urls: str) -> int:
    names = [conninfo_to_dict(u)["dbname"] for u in urls]
    with psycopg.connect(admin_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pghaul%%' AND datname = ANY(%s)",
            (names,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_mounted_router_returns_every_connection(pg18, source_url: str, target_url: str) -> None:  # type: ignore[no-untyped-def]
    fill_sample_database(source_url, users=3, memories_per_user=1)
    host = FastAPI()

    @host.get("/")
    def home() -> dict[str, str]:
        return {"app": "host"}

    router = create_router(make_settings(source_url, target_url))
    host.include_router(router, prefix="/api/admin")
    pools = router.runtime.pools
    with TestClient(host) as client:
        assert client.get("/").json() == {"app": "host"}
        assert client.get("/api/admin/migrate").status_code == 200
        one = client.get("/api/admin/db-schema", params={"table": "sessions"}, headers=AUTH).json()
        assert [(r["table"], r["created"], r["primaryKey"]) for r in one["results"]] == [
            ("sessions", True, "user_id, session_no")
        ]
        requests = [
            ("/api/admin/db-tables", 200),
            ("/api/admin/db-preflight", 200),
            ("/api/admin/db-schema", 200),
            ("/api/admin/db-migrate-data?table=users&batchSize=2", 200),
            ("/api/admin/db-migrate-data?table=users&cursor=not-a-cursor", 400),  # fails with connections held
            ("/api/admin/db-migrate-data?table=missing", 404),
            ("/api/admin/db-migrate-data?table=users&batchSize=0", 400),
            ("/api/admin/db-status", 200),
        ]
        for path, status in requests:
            response = client.get(path, headers=AUTH)
            assert response.status_code == status, (path, response.text)
            if status >= 400:
                assert response.json()["success"] is False
            assert all(n == 0 for n in pools.borrowed().values()), (path, pools.borrowed())
        assert client.get("/api/admin/db-status").status_code == 401
        with pools.source() as conn:  # PostgreSQL itself keeps the source session from writing
            assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        with pools.target() as conn:
            assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("off",)
        assert set(pools.borrowed()) == {"source", "target"}
        assert 0 < _pghaul_sessions(pg18.admin_url, source_url, target_url) <= 2 * 5
    # Shutdown closed the pools; a backend leaves pg_stat_activity a moment after its client hung up.
    deadline = time.monotonic() + 10
    while _pghaul_sessions(pg18.admin_url, source_url, target_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _pghaul_sessions(pg18.admin_url, source_url, target_url) == 0


def test_a_host_app_keeps_the_admin_api_out_of_its_docs_unless_it_asks() -> None:
    settings = Settings(migration_secret="host-app-Secret-5d8e2f71c3", allow_db_migration=True)

    def host_paths(**options: bool) -> set[str]:
        host = FastAPI()

        @host.get("/items")
        def items() -> list[str]:
            return []

        host.include_router(create_router(settings, **options), prefix="/api/admin")
        return set(host.openapi()["paths"])

    assert host_paths() == {"/items"}  # the default: a host app's public /docs shows nothing of pghaul
    assert host_paths(include_in_schema=False) == {"/items"}
    assert {"/items", "/api/admin/db-status", "/api/admin/db-migrate-all"} <= host_paths(include_in_schema=True)
