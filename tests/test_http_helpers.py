"""Shared pieces of the HTTP tests (no tests here): settings for a pair of databases, the secret, polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg.conninfo import make_conninfo

from pghaul.settings import Settings

SECRET = "s3cr3t-Migration-Token-4217"
# The test servers trust local connections, so a password in the URL is ignored by the server but present
# everywhere a leak could happen: it must never show up in a response or a log line.
PASSWORD = "Pw-Never-Log-9931"
AUTH = {"X-Migration-Secret": SECRET}


def with_password(url: str) -> str:
    return make_conninfo(url, password=PASSWORD)


def make_settings(source_url: str | None, target_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": with_password(source_url) if source_url else None,
        "new_database_url": with_password(target_url) if target_url else None,
        "migration_secret": SECRET,
        "allow_db_migration": True,
    }
    values.update(overrides)
    return Settings(**values)


def user_relations(url: str) -> list[tuple[str, str, str]]:
    """Every relation outside the system schemas: an empty list means nothing was written."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
            " ORDER BY 1, 2"
        ).fetchall()


def count_rows(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # test-owned constant names only
        assert row is not None
        return int(row[0])


def poll_status(client: TestClient, until: Callable[[dict[str, Any]], bool], timeout: float = 240.0) -> dict[str, Any]:
    """db-status until ``until`` holds; a hung job fails the test instead of hanging it."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get("/api/admin/db-status", headers=AUTH)
        assert response.status_code == 200, response.text
        body = response.json()
        if until(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"status never reached the expected state; last: {body}")


def database_state(url: str) -> tuple[list[tuple[str, str, str]], dict[str, tuple[int, str]], list[tuple[str, int]]]:
    """What any write would change: every relation, every table's rows (count and md5), every sequence's position.

    Compared before and after a refused request, it shows that the refusal came before anything was written.
    """
    from tests.fixtures_data import database_digest

    with psycopg.connect(url) as conn:
        positions = conn.execute(
            "SELECT format('%I.%I', schemaname, sequencename), coalesce(last_value, 0) FROM pg_sequences ORDER BY 1"
        ).fetchall()
    return user_relations(url), database_digest(url), [(str(n), int(v)) for n, v in positions]
