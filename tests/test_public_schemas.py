"""Real public schemas, with their published rows, migrated from PostgreSQL 15, 16 and 18 into 18.

Nobody here wrote these schemas (origins and licences in tests/schemas/*/README.md), so they carry what real
databases hold: partitions, aggregates, casts, rules, domains over composite types, a foreign table, text
search, views over views (Pagila, PostgREST's test fixtures), and plain tables with identity keys (Chinook).
The bar is pg_dump's: after `migrate`, pg_dump must not tell the target from the source (tests/dump_compare.py
says how versions are compared), every row and sequence must be equal, pghaul's own verification must agree,
and a second run must find nothing left to create.

`test_<schema>_pg_dump_restore_baseline` restores pg_dump's plain schema with psql and passes the same schema
comparison: it proves the harness and the fixtures, and it is the reference pghaul's migration must match.

pgserver's PostgreSQL 16 has no contrib modules, so the PostgREST fixture's file_fdw, ltree and isn objects
(contrib.sql) are loaded only where the source server has them (15 and 18).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from pghaul.engine import MigrateOptions, MigrationResult, migrate
from tests.dump_compare import (
    assert_same_schema_dump,
    restore_schema,
    row_differences,
    run_psql,
    schema_diff,
    schema_statements,
    scratch_database,
    sequence_differences,
    server_major,
    split_entries,
)

SCHEMAS = Path(__file__).parent / "schemas"

# The source server of each version, by the fixture that gives a fresh database on it; the target is always 18.
SOURCES = {"15": "pg15_source_url", "16": "pg16_source_url", "18": "source_url"}

# What pg_dump prints from the server's own deparsing (view queries, function arguments, expressions): between
# major versions the same object may print differently, and nothing else may differ.
SERVER_PRINTED_KINDS = {
    "VIEW", "MATERIALIZED VIEW", "RULE", "FUNCTION", "PROCEDURE", "AGGREGATE", "COMMENT", "TRIGGER", "INDEX",
    "CONSTRAINT", "CHECK CONSTRAINT", "DEFAULT", "POLICY",
}


@dataclass(frozen=True)
class PublicSchema:
    name: str
    files: tuple[str, ...]
    # Run on the source and the target servers: roles belong to a server, not to a database.
    server_setup: tuple[str, ...] = ()
    # Loaded only where the source server has every extension they create.
    contrib_files: tuple[str, ...] = ()
    contrib_extensions: frozenset[str] = frozenset()

    def path(self, file: str) -> str:
        return str(SCHEMAS / self.name / file)

    def load(self, source_url: str, target_url: str) -> None:
        for url in (source_url, target_url):
            for file in self.server_setup:
                run_psql(url, "-f", self.path(file))
        files = list(self.files)
        if self.contrib_files and self.contrib_extensions <= _available_extensions(source_url):
            files.extend(self.contrib_files)
        # One psql session for all files, as the projects load them: settings made by one (check_function_bodies
        # off, in PostgREST's schema.sql) hold for the next.
        args = [arg for file in files for arg in ("-f", self.path(file))]
        run_psql(source_url, "-v", f"DBNAME={conninfo_to_dict(source_url)['dbname']}", *args)


PAGILA = PublicSchema("pagila", ("pagila-schema.sql", "pagila-data.sql"))
CHINOOK = PublicSchema("chinook", ("chinook.sql",))
POSTGREST = PublicSchema(
    "postgrest",
    ("database.sql", "schema.sql", "jwt.sql", "jsonschema.sql", "privileges.sql", "data.sql"),
    server_setup=("roles.sql",),
    contrib_files=("contrib.sql",),
    contrib_extensions=frozenset({"file_fdw", "ltree", "isn"}),
)


def _available_extensions(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions")}


def _source(request: pytest.FixtureRequest, version: str) -> str:
    url = request.getfixturevalue(SOURCES[version])
    assert server_major(url) == int(version)
    return str(url)


def _kind(entry: str) -> str:
    return entry.split("\n", 1)[0].split("; Type: ", 1)[1].split("; Schema: ", 1)[0]


def check_pg_dump_restore_baseline(schema: PublicSchema, source_url: str, target_url: str) -> None:
    schema.load(source_url, target_url)
    restore_schema(source_url, target_url)

    assert_same_schema_dump(source_url, target_url)
    assert len(schema_statements(source_url)) > 40  # the fixture really loaded
    if server_major(source_url) != server_major(target_url):
        # Across versions the comparison above is with the source restored on the target's server, which is
        # how the target was made here; compared as each server prints it, only deparsed text may differ.
        direct = schema_diff(source_url, target_url)
        kinds_source, kinds_target = Counter(map(_kind, direct.only_source)), Counter(map(_kind, direct.only_target))
        assert kinds_source == kinds_target, direct.render()
        assert set(kinds_source) <= SERVER_PRINTED_KINDS, direct.render()


def _problems_after(result: MigrationResult, source_url: str, target_url: str, run: str) -> list[str]:
    problems: list[str] = []
    try:
        assert_same_schema_dump(source_url, target_url)
    except AssertionError as exc:
        problems.append(f"{run}: schema: {exc}")
    problems.extend(f"{run}: rows: {p}" for p in row_differences(source_url, target_url))
    problems.extend(f"{run}: sequences: {p}" for p in sequence_differences(source_url, target_url))
    report = result.verify_report
    if report is None:
        problems.append(f"{run}: no verify report")
    elif not report.ok:
        problems.extend(f"{run}: verify: {d}" for d in report.differences())
    return problems


def check_migrate(schema: PublicSchema, source_url: str, target_url: str) -> None:
    schema.load(source_url, target_url)

    first = migrate(source_url, target_url, MigrateOptions())
    problems = _problems_after(first, source_url, target_url, "first run")

    second = migrate(source_url, target_url, MigrateOptions())
    created = [f"{s.kind} {s.name}" for s in second.plan.steps if s.status == "create"]
    if created:
        problems.append(f"second run: plans to create again: {created}")
    problems.extend(_problems_after(second, source_url, target_url, "second run"))

    assert problems == [], "\n".join(problems)


VERSIONS = pytest.mark.parametrize("version", list(SOURCES))


@VERSIONS
def test_pagila_pg_dump_restore_baseline(request: pytest.FixtureRequest, version: str, target_url: str) -> None:
    check_pg_dump_restore_baseline(PAGILA, _source(request, version), target_url)


@VERSIONS
def test_postgrest_pg_dump_restore_baseline(request: pytest.FixtureRequest, version: str, target_url: str) -> None:
    check_pg_dump_restore_baseline(POSTGREST, _source(request, version), target_url)


@VERSIONS
def test_chinook_pg_dump_restore_baseline(request: pytest.FixtureRequest, version: str, target_url: str) -> None:
    check_pg_dump_restore_baseline(CHINOOK, _source(request, version), target_url)


@VERSIONS
def test_pagila_migrate(request: pytest.FixtureRequest, version: str, target_url: str) -> None:
    check_migrate(PAGILA, _source(request, version), target_url)


@VERSIONS
def test_postgrest_migrate(request: pytest.FixtureRequest, version: str, target_url: str) -> None:
    check_migrate(POSTGREST, _source(request, version), target_url)


@VERSIONS
def test_chinook_migrate(request: pytest.FixtureRequest, version: str, target_url: str) -> None:
    check_migrate(CHINOOK, _source(request, version), target_url)


# --- the harness itself ------------------------------------------------------------------------------------------

def test_split_entries_keeps_object_text_and_drops_session_noise() -> None:
    dump = "\n".join([
        "--", "-- PostgreSQL database dump", "--", "", "\\restrict abc123", "",
        "-- Dumped from database version 15.18", "SET statement_timeout = 0;",
        "SELECT pg_catalog.set_config('search_path', '', false);", "",
        "--", "-- Name: public; Type: SCHEMA; Schema: -; Owner: -", "--", "",
        "-- *not* creating schema, since initdb creates it", "", "",
        "--", "-- Name: f(); Type: FUNCTION; Schema: public; Owner: -", "--", "",
        "CREATE FUNCTION public.f() RETURNS void", "    LANGUAGE plpgsql", "    AS $$", "BEGIN",
        "SET x = 1;", "", "-- a comment of the body", "END $$;", "", "", "SET default_tablespace = '';",
        "SET default_table_access_method = heap;", "",
        "--", "-- Name: t; Type: TABLE; Schema: public; Owner: -", "--", "",
        "CREATE TABLE public.t (", "    id integer", ");", "", "",
        "--", "-- PostgreSQL database dump complete", "--", "", "\\unrestrict abc123", "",
    ])
    assert split_entries(dump) == [
        "-- f(); Type: FUNCTION; Schema: public\n" + "\n".join([
            "CREATE FUNCTION public.f() RETURNS void", "    LANGUAGE plpgsql", "    AS $$", "BEGIN",
            "SET x = 1;", "", "-- a comment of the body", "END $$;",
        ]),
        "-- t; Type: TABLE; Schema: public\nCREATE TABLE public.t (\n    id integer\n);",
    ]


def test_harness_sees_a_missing_trigger_a_changed_row_and_a_sequence(source_url: str, target_url: str) -> None:
    PAGILA.load(source_url, target_url)
    restore_schema(source_url, target_url)
    run_psql(target_url, "-c", "DROP TRIGGER last_updated ON public.actor")

    with pytest.raises(AssertionError, match="missing on the target:\n-- actor last_updated; Type: TRIGGER"):
        assert_same_schema_dump(source_url, target_url)
    rows = row_differences(source_url, target_url)
    assert "public.actor: source 200 rows" in rows[0] and "target 0 rows" in rows[0]
    assert "public.actor_actor_id_seq: source (last_value, is_called) (200, True), target (1, False)" in (
        sequence_differences(source_url, target_url)
    )


def test_cross_version_comparison_uses_the_target_servers_text(
    pg15_source_url: str, target_url: str,
) -> None:
    run_psql(pg15_source_url, "-c", "CREATE TABLE t (id int PRIMARY KEY); CREATE VIEW v AS SELECT id FROM t")
    restore_schema(pg15_source_url, target_url)
    assert_same_schema_dump(pg15_source_url, target_url)

    run_psql(target_url, "-c", "CREATE OR REPLACE VIEW v AS SELECT id FROM t WHERE id > 0")
    with pytest.raises(AssertionError, match="v; Type: VIEW; Schema: public differs"):
        assert_same_schema_dump(pg15_source_url, target_url)
    with scratch_database(target_url) as empty:
        assert schema_statements(empty) == []
