"""A source table whose rows row-level security would filter for the connecting role is refused before anything
is written, and the catalog's answer is the one PostgreSQL itself gives when such a table is read."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pghaul.connect import connect_source
from pghaul.copy.row_security import RLS_HINT, check_rls_readable, rls_filtered_tables
from pghaul.engine import MigrateOptions, migrate
from pghaul.errors import SafetyError
from pghaul.inspect import inspect_tables
from tests.conftest import run_sql
from tests.fixtures_data import has_state_schema, relations, table_digest


@contextmanager
def login_role(url: str, *options: sql.Composable) -> Iterator[tuple[str, str]]:
    """A uniquely named login role (roles are cluster-wide) and a URL of ``url``'s database as it; dropped after,
    with what it owns there."""
    name = f"pghaul_test_{uuid.uuid4().hex[:10]}"
    password = secrets.token_urlsafe(16)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} {}").format(
            sql.Identifier(name), sql.Literal(password), sql.SQL(" ").join(options)))
    try:
        yield name, make_conninfo(url, user=name, password=password)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@contextmanager
def table_owner(url: str) -> Iterator[tuple[str, str]]:
    """A login role that may create tables in ``public`` (PostgreSQL 15 took that from everyone)."""
    with login_role(url) as (name, role_url):
        run_as_admin(url, "GRANT CREATE ON SCHEMA public TO {r}", r=name)
        yield name, role_url


def run_as_admin(url: str, template: str, **roles: str) -> None:
    run_sql(url, sql.SQL(template).format(**{k: sql.Identifier(v) for k, v in roles.items()}))  # type: ignore[arg-type]


POLICED = """
CREATE TABLE open_rows (id int PRIMARY KEY, v text);
CREATE TABLE policed (id int PRIMARY KEY, who text);
CREATE TABLE no_policy (id int PRIMARY KEY);
INSERT INTO open_rows SELECT g, 'v' || g FROM generate_series(1, 30) g;
INSERT INTO policed SELECT g, 'someone' FROM generate_series(1, 30) g;
INSERT INTO no_policy SELECT generate_series(1, 5);
ALTER TABLE policed ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_theirs ON policed FOR SELECT USING (who = current_user);
-- enabled without a policy: nothing is visible to whom it applies
ALTER TABLE no_policy ENABLE ROW LEVEL SECURITY;
"""


def assert_target_untouched(target_url: str) -> None:
    assert relations(target_url) == []
    assert not has_state_schema(target_url)


def test_a_non_owner_without_bypassrls_is_refused_before_anything_is_written(source_url: str,
                                                                             target_url: str) -> None:
    run_sql(source_url, POLICED)
    with login_role(source_url) as (reader, reader_url):
        run_as_admin(source_url, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {r}", r=reader)
        for options in (MigrateOptions(), MigrateOptions(data_only=True)):
            with pytest.raises(SafetyError) as refused:
                migrate(reader_url, target_url, options)
            assert "public.no_policy, public.policed" in refused.value.message
            assert reader in refused.value.message
            assert "open_rows" not in refused.value.message
            assert refused.value.hint == RLS_HINT
            assert_target_untouched(target_url)
        # Schema-only copies no rows: nothing for row-level security to hide.
        result = migrate(reader_url, target_url, MigrateOptions(schema_only=True))
        assert result.ok


def test_forced_row_security_refuses_even_the_owner(source_url: str, target_url: str) -> None:
    with table_owner(source_url) as (owner, owner_url):
        run_sql(owner_url, POLICED + "ALTER TABLE policed FORCE ROW LEVEL SECURITY;")
        with pytest.raises(SafetyError) as refused:
            migrate(owner_url, target_url)
        assert "public.policed" in refused.value.message and owner in refused.value.message
        assert "no_policy" not in refused.value.message  # owned, not forced
        assert_target_untouched(target_url)


def test_the_owner_of_tables_that_do_not_force_it_passes(source_url: str, target_url: str) -> None:
    with table_owner(source_url) as (_, owner_url):
        run_sql(owner_url, POLICED)
        result = migrate(owner_url, target_url)
        assert result.ok, result.verify_report.differences() if result.verify_report else None
        for table in ("public.open_rows", "public.policed", "public.no_policy"):
            assert table_digest(target_url, table) == table_digest(source_url, table)


def test_a_bypassrls_role_passes_and_copies_every_row(source_url: str, target_url: str) -> None:
    run_sql(source_url, POLICED)
    with login_role(source_url, sql.SQL("BYPASSRLS")) as (reader, reader_url):
        run_as_admin(source_url, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {r}", r=reader)
        result = migrate(reader_url, target_url)
        assert result.ok, result.verify_report.differences() if result.verify_report else None
    assert table_digest(target_url, "public.policed") == table_digest(source_url, "public.policed")
    assert table_digest(target_url, "public.policed")[0] == 30


def refused_by_postgresql(url: str, tables: list[str]) -> list[str]:
    """Ground truth: the tables a read with row_security = off fails on (SELECT is granted to everyone, so the
    only refusal left is row-level security's)."""
    refused = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET row_security = off")
        for name in tables:
            try:
                conn.execute(sql.SQL("SELECT FROM {}").format(sql.Identifier(*name.split("."))))
            except psycopg.errors.InsufficientPrivilege:
                refused.append(name)
    return sorted(refused)


MATRIX = """
CREATE TABLE no_rls (id int);
CREATE TABLE enabled (id int);
CREATE TABLE forced (id int);
ALTER TABLE enabled ENABLE ROW LEVEL SECURITY;
ALTER TABLE forced ENABLE ROW LEVEL SECURITY;
ALTER TABLE forced FORCE ROW LEVEL SECURITY;
GRANT SELECT ON no_rls, enabled, forced TO PUBLIC;
"""
MATRIX_TABLES = ["public.enabled", "public.forced", "public.no_rls"]


@pytest.mark.parametrize("server", ["pg18", "pg16", "pg15"])
def test_the_catalog_agrees_with_postgresql_for_each_kind_of_role(request: pytest.FixtureRequest,
                                                                 server: str) -> None:
    url = request.getfixturevalue(server).create_database("rls")
    try:
        with ExitStack() as roles:
            owner, owner_url = roles.enter_context(table_owner(url))
            run_sql(owner_url, MATRIX)
            owner_role = sql.SQL("IN ROLE {}").format(sql.Identifier(owner))
            urls = {
                "owner": owner_url,
                "member inheriting from the owner": roles.enter_context(login_role(url, owner_role))[1],
                "member not inheriting": roles.enter_context(login_role(url, sql.SQL("NOINHERIT"), owner_role))[1],
                "other": roles.enter_context(login_role(url))[1],
                "bypassrls": roles.enter_context(login_role(url, sql.SQL("BYPASSRLS")))[1],
                "superuser": url,
            }
            expected = {
                "owner": ["public.forced"], "member inheriting from the owner": ["public.forced"],
                "member not inheriting": ["public.enabled", "public.forced"],
                "other": ["public.enabled", "public.forced"], "bypassrls": [], "superuser": [],
            }
            for who, role_url in urls.items():
                with connect_source(role_url) as conn:
                    tables = list(inspect_tables(conn).values())
                    predicted = rls_filtered_tables(conn, tables)
                assert predicted == refused_by_postgresql(role_url, MATRIX_TABLES), who
                assert predicted == expected[who], who
    finally:
        request.getfixturevalue(server).drop_database(url)


def test_no_tables_nothing_to_refuse(source_url: str) -> None:
    with connect_source(source_url) as conn:
        assert rls_filtered_tables(conn, []) == []
        check_rls_readable(conn, [])
