"""Names that attack: schema, table, column, index, enum label, policy and function names carrying quotes,
semicolons, ``$$``, backslashes, newlines, unicode, exactly 63 bytes or more (PostgreSQL keeps the first 63), in
migrate, verify, sync, the CLI's table patterns and the admin API's ``table`` parameter. Each is carried exactly
or refused with a clear error, and no injected statement ever runs (``tests/hostile_names.py``)."""

from __future__ import annotations

import glob
import json
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from typer.testing import CliRunner

from pghaul.cli import app
from pghaul.engine import MigrateOptions, migrate
from pghaul.http import create_app
from pghaul.sync import SyncOptions, sync
from pghaul.verify import VerifyOptions, verify
from tests.fixtures_data import database_digest
from tests.hostile_names import (
    CANARY_ROWS,
    COLUMN,
    GLOBBY,
    INJECT,
    NAME_63,
    NAME_LONG,
    NAME_LONG_STORED,
    SCHEMA,
    TABLE,
    canary,
    catalog_names,
    create_hostile_database,
    injection_traces,
)
from tests.servers import TestServer
from tests.test_http_helpers import AUTH, PASSWORD, database_state, make_settings

QUALIFIED = f"{SCHEMA}.{TABLE}"
# What a person types to mean exactly one of these tables: fnmatch's characters escaped.
PATTERN = glob.escape(QUALIFIED)


@pytest.fixture
def hostile_source(pg18: TestServer, source_url: str) -> Iterator[str]:
    create_hostile_database(source_url)
    assert injection_traces(pg18.admin_url) == []
    yield source_url
    assert injection_traces(pg18.admin_url) == []
    assert canary(source_url) == CANARY_ROWS


def _rows(url: str, *name: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        query = sql.SQL("SELECT r::text FROM {} AS r ORDER BY 1").format(sql.Identifier(*name))
        return [r[0] for r in conn.execute(query).fetchall()]


def test_every_hostile_name_is_carried_exactly(pg18: TestServer, hostile_source: str, target_url: str) -> None:
    before = database_state(hostile_source)
    result = migrate(hostile_source, target_url, MigrateOptions(batch_size=7))
    assert result.ok, result.verify_report.differences() if result.verify_report else result.notices
    assert catalog_names(target_url) == catalog_names(hostile_source)
    assert database_digest(target_url) == database_digest(hostile_source)
    names = {name for _, name, _ in catalog_names(target_url)["relations"]}
    assert {TABLE, NAME_63, NAME_LONG_STORED, GLOBBY} <= names and NAME_LONG not in names
    assert database_state(hostile_source) == before  # the source: not one change
    assert canary(target_url) == CANARY_ROWS
    report = verify(hostile_source, target_url, VerifyOptions(include=(PATTERN,)))
    assert report.ok and [t.table for t in report.tables] == [QUALIFIED]


def test_sync_carries_changes_to_hostile_tables(hostile_source: str, target_url: str) -> None:
    assert migrate(hostile_source, target_url, MigrateOptions()).ok
    with psycopg.connect(hostile_source, autocommit=True) as conn:
        t = sql.Identifier(SCHEMA, TABLE)
        conn.execute(sql.SQL("UPDATE {} SET {} = {} WHERE id % 3 = 0").format(
            t, sql.Identifier(COLUMN), sql.Literal("$$'\\\n" + INJECT)))
        conn.execute(sql.SQL("DELETE FROM {} WHERE id % 5 = 0").format(t))
        conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            t, sql.Identifier(COLUMN), sql.Literal(INJECT)))
        conn.execute(sql.SQL("INSERT INTO {} VALUES (100, {})").format(
            sql.Identifier(SCHEMA, NAME_LONG_STORED), sql.Literal(TABLE)))
    report = sync(hostile_source, target_url, SyncOptions())
    assert (report.rows_inserted, report.rows_deleted) == (2, 8) and report.rows_updated >= 10
    assert verify(hostile_source, target_url).ok
    assert database_digest(target_url) == database_digest(hostile_source)
    assert _rows(target_url, SCHEMA, TABLE) == _rows(hostile_source, SCHEMA, TABLE)


def _pghaul(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pghaul", *args], capture_output=True, text=True, timeout=300,
                          check=False)


def test_cli_table_patterns_with_hostile_names(hostile_source: str, target_url: str) -> None:
    source_before = database_state(hostile_source)
    done = _pghaul("migrate", "--source", hostile_source, "--target", target_url, "--yes", "--json",
                   "--tables", PATTERN, "--tables", glob.escape(f"{SCHEMA}.{GLOBBY}"))
    assert done.returncode == 0, done.stderr + done.stdout
    report = json.loads(done.stdout.splitlines()[-1])
    assert sorted(t["table"] for t in report["tables"]) == sorted([QUALIFIED, f"{SCHEMA}.{GLOBBY}"])
    assert _rows(target_url, SCHEMA, TABLE) == _rows(hostile_source, SCHEMA, TABLE)
    checked = CliRunner().invoke(app, ["verify", "--source", hostile_source, "--target", target_url,
                                       "--tables", PATTERN, "--json"], catch_exceptions=False)
    assert checked.exit_code == 0, checked.output
    # A glob character left unescaped is a pattern, as documented: here it matches the one table it spells.
    loose = CliRunner().invoke(app, ["verify", "--source", hostile_source, "--target", target_url,
                                     "--tables", f"{SCHEMA}.glob*"], catch_exceptions=False)
    assert loose.exit_code == 0, loose.output
    assert database_state(hostile_source) == source_before
    with psycopg.connect(hostile_source, autocommit=True) as conn:
        conn.execute(sql.SQL("UPDATE {} SET {} = {} WHERE id <= 3").format(
            sql.Identifier(SCHEMA, TABLE), sql.Identifier(COLUMN), sql.Literal(INJECT + "\n$$")))
    synced = CliRunner().invoke(app, ["sync", "--source", hostile_source, "--target", target_url,
                                      "--tables", PATTERN, "--json"], catch_exceptions=False)
    assert synced.exit_code == 0, synced.output
    assert _rows(target_url, SCHEMA, TABLE) == _rows(hostile_source, SCHEMA, TABLE)


NOTHING_MATCHES = (NAME_LONG, f"{SCHEMA}.{NAME_LONG}", "x'); DROP TABLE public.canary; --",
                   "public.canary; DROP TABLE public.canary")


def test_cli_pattern_that_matches_nothing_changes_nothing(hostile_source: str, target_url: str) -> None:
    target_before = database_state(target_url)
    # The name before PostgreSQL cut it to 63 bytes is not a name either.
    patterns = [arg for pattern in NOTHING_MATCHES for arg in ("--tables", pattern)]
    for command in (("migrate", "--yes"), ("plan",), ("verify",)):
        done = CliRunner().invoke(app, [command[0], "--source", hostile_source, "--target", target_url,
                                        *command[1:], *patterns], catch_exceptions=False)
        assert done.exit_code == 2, (command, done.output)
        error = " ".join(done.stderr.split())
        assert error.startswith("error: no table of the source matches") and "hint: " in error, error
    assert database_state(target_url) == target_before


def _api_name(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def test_http_table_parameter_with_hostile_names(pg18: TestServer, hostile_source: str, target_url: str) -> None:
    app = create_app(make_settings(hostile_source, target_url))
    with TestClient(app) as client:
        listed = client.get("/api/admin/db-tables", headers=AUTH)
        assert listed.status_code == 200, listed.text
        names = {t["name"] for t in listed.json()["tables"]}
        assert {QUALIFIED, f"{SCHEMA}.{NAME_63}", f"{SCHEMA}.{NAME_LONG_STORED}", f"{SCHEMA}.{GLOBBY}"} <= names
        schema = client.get("/api/admin/db-schema", params={"table": QUALIFIED}, headers=AUTH)
        assert schema.status_code == 200, schema.text
        cursor = None
        while True:
            params = {"table": QUALIFIED, "batchSize": 9} | ({"cursor": cursor} if cursor else {})
            batch = client.get("/api/admin/db-migrate-data", params=params, headers=AUTH)
            assert batch.status_code == 200, batch.text
            if not batch.json()["hasMore"]:
                break
            cursor = batch.json()["nextCursor"]
        assert _rows(target_url, SCHEMA, TABLE) == _rows(hostile_source, SCHEMA, TABLE)

        before = database_state(target_url), database_state(hostile_source)
        for requested in (NAME_LONG, f"{SCHEMA}.{NAME_LONG}", "x'); DROP TABLE public.canary; --", INJECT,
                          f"{SCHEMA}.*", "public.canary'; --"):
            for path in ("/api/admin/db-migrate-data", "/api/admin/db-schema"):
                reply = client.get(path, params={"table": requested}, headers=AUTH)
                assert reply.status_code == 404, (path, requested, reply.text)
                body = reply.json()
                assert "no such table" in json.dumps(body) and PASSWORD not in reply.text
        assert (database_state(target_url), database_state(hostile_source)) == before
    assert injection_traces(pg18.admin_url) == []


MARKUP_NAME = "[/]looks[bold]like markup"


def test_cli_shows_names_that_look_like_markup_as_they_are(source_url: str, target_url: str) -> None:
    # Found here: the CLI printed messages and the `tables` listing as rich markup, so [/] stopped the command with
    # a MarkupError and [x] vanished from what was shown (fixed in cli/commands.py, c4992f2).
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(sql.Identifier("public", MARKUP_NAME)))
    listed = CliRunner().invoke(app, ["tables", "--source", source_url], catch_exceptions=False)
    assert listed.exit_code == 0 and MARKUP_NAME in " ".join(listed.stdout.split()), listed.output
    refused = CliRunner().invoke(app, ["plan", "--source", source_url, "--target", target_url,
                                       "--tables", "[/]nothing[x]"], catch_exceptions=False)
    assert refused.exit_code == 2 and "[/]nothing[x]" in refused.stderr, refused.output
