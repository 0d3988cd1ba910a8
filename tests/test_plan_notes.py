"""What a run does not carry is said in the plan: tablespaces, subscriptions, user mappings' credentials."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pghaul.engine import make_plan, migrate
from tests.conftest import run_sql
from tests.servers import TestServer


@pytest.fixture
def tablespace(pg18: TestServer) -> Iterator[str]:
    """A tablespace on the test server, in a directory its OS user owns."""
    name = f"ts_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg18.admin_url, autocommit=True) as conn:
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
        where = Path(tempfile.mkdtemp(prefix="pghaul-ts-"))
        where.chmod(0o700)
        owner = Path(data_dir).stat()
        os.chown(where, owner.st_uid, owner.st_gid)
        conn.execute(sql.SQL("CREATE TABLESPACE {} LOCATION {}").format(sql.Identifier(name), sql.Literal(str(where))))
    yield name
    with psycopg.connect(pg18.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLESPACE IF EXISTS {}").format(sql.Identifier(name)))


def test_objects_in_a_tablespace_land_in_the_targets_default_with_a_note(
    source_url: str, target_url: str, tablespace: str
) -> None:
    run_sql(source_url, sql.SQL(
        "CREATE TABLE placed (id int PRIMARY KEY, v text) TABLESPACE {ts};"
        "CREATE INDEX placed_v ON placed (v) TABLESPACE {ts}; INSERT INTO placed VALUES (1, 'a');"
    ).format(ts=sql.Identifier(tablespace)).as_string(None))
    plan = make_plan(source_url, target_url)
    assert any(tablespace in n and "default tablespace" in n for n in plan.notes)
    try:
        assert migrate(source_url, target_url).ok
        with psycopg.connect(target_url) as conn:
            spaces = conn.execute("SELECT relname, reltablespace FROM pg_class WHERE relname LIKE 'placed%'").fetchall()
        assert spaces and all(oid == 0 for _, oid in spaces)
    finally:
        run_sql(source_url, "DROP TABLE placed")


def test_subscriptions_are_named_and_left_out(source_url: str, target_url: str) -> None:
    run_sql(source_url, "CREATE TABLE t (id int PRIMARY KEY);"
            "CREATE SUBSCRIPTION incoming CONNECTION 'dbname=nowhere' PUBLICATION p WITH (connect = false)")
    try:
        result = migrate(source_url, target_url)
        assert result.ok
        assert any("subscriptions" in n and "incoming" in n for n in result.plan.notes)
        with psycopg.connect(target_url) as conn:
            here = conn.execute(
                "SELECT count(*) FROM pg_subscription WHERE subname = 'incoming'"
                " AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()
        assert here == (0,)
    finally:
        run_sql(source_url, "ALTER SUBSCRIPTION incoming SET (slot_name = NONE); DROP SUBSCRIPTION incoming")
