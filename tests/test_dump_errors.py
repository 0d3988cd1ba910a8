"""pg_dump's failures in its own words: the error line, not the "Query was: …" detail it prints after it."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pghaul.dump.pg_dump import DumpFailed, dump_error, dump_schema
from tests.servers import TestServer


def test_the_reason_is_pg_dumps_error_line() -> None:
    stderr = ("pg_dump: error: query failed: ERROR:  permission denied for table t\n"
              "pg_dump: detail: Query was: LOCK TABLE public.t IN ACCESS SHARE MODE\n")
    assert dump_error(stderr) == "query failed: ERROR:  permission denied for table t"
    assert dump_error("something else entirely\n") == "something else entirely"
    assert dump_error("") == ""


def test_a_table_the_role_cannot_read_is_named_in_the_error(pg18: TestServer, source_url: str) -> None:
    role = f"reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE hidden (id int PRIMARY KEY)")
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        with pytest.raises(DumpFailed) as failed:
            dump_schema(make_conninfo(source_url, user=role))
        assert "permission denied for table hidden" in failed.value.message
        assert "Query was" not in failed.value.message
    finally:
        with psycopg.connect(source_url, autocommit=True) as conn:
            conn.execute("DROP TABLE hidden")
        with psycopg.connect(pg18.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
