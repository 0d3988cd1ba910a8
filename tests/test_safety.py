"""Safety checks refuse before anything is written, and never show a password."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pghaul.connect import connect_source, connect_target
from pghaul.engine.preflight import check_extensions, check_target_is_not_source, preflight_report, run_preflight
from pghaul.errors import SafetyError
from pghaul.inspect import inspect_catalog
from tests.conftest import run_sql
from tests.servers import TestServer

PASSWORD = "s3cret-Pa55"


@pytest.fixture
def pg16_target_url(pg16: TestServer) -> Iterator[str]:
    url = pg16.create_database("dst16")
    yield url
    pg16.drop_database(url)


def test_target_that_is_the_source_is_refused(source_url: str) -> None:
    url = make_conninfo(source_url, password=PASSWORD)  # the test servers trust local connections
    with connect_source(url) as src, connect_target(url) as tgt, pytest.raises(SafetyError) as caught:
        check_target_is_not_source(src, tgt)
    assert "is the source database itself" in caught.value.message
    assert PASSWORD not in str(caught.value)


def test_another_database_on_the_same_server_is_allowed(source_url: str, target_url: str) -> None:
    with connect_source(source_url) as src, connect_target(target_url) as tgt:
        check_target_is_not_source(src, tgt)
        assert preflight_report(src, tgt, inspect_catalog(src))["ok"] is True


def test_missing_extension_refused_before_any_write(source_url: str, pg16_target_url: str) -> None:
    run_sql(source_url, "CREATE EXTENSION hstore; CREATE TABLE t (id int PRIMARY KEY, h hstore);")
    url = make_conninfo(pg16_target_url, password=PASSWORD)
    with connect_source(source_url) as src, connect_target(url) as tgt:
        source = inspect_catalog(src)
        target_before = inspect_catalog(tgt).definitions()
        with pytest.raises(SafetyError) as caught:
            run_preflight(src, tgt, source)
        report = preflight_report(src, tgt, source)
        assert inspect_catalog(tgt).definitions() == target_before
    assert "hstore" in caught.value.message and "offers none" in caught.value.message
    assert "CREATE EXTENSION" in caught.value.hint
    assert PASSWORD not in str(caught.value)
    assert report["ok"] is False
    assert [e["name"] for e in report["extensions"] if not e["ok"]] == ["hstore"]


def test_older_vector_on_target_refused(source_url: str, pg16_target_url: str) -> None:
    run_sql(source_url, "CREATE EXTENSION vector; CREATE TABLE t (id int PRIMARY KEY, v halfvec(2));")
    with connect_source(source_url) as src, connect_target(pg16_target_url) as tgt:
        source = inspect_catalog(src)
        with pytest.raises(SafetyError) as caught:
            check_extensions(source, tgt)
        installed = tgt.execute("SELECT count(*) FROM pg_extension WHERE extname = 'vector'").fetchone()
    message = caught.value.message
    assert "vector" in message and source.extensions["vector"].version in message and "0.6" in message
    assert installed == (0,)


def test_newer_vector_on_target_is_fine(pg16_source_url: str, target_url: str) -> None:
    run_sql(pg16_source_url, "CREATE EXTENSION vector;")
    with connect_source(pg16_source_url) as src, connect_target(target_url) as tgt:
        run_preflight(src, tgt, inspect_catalog(src))


def test_source_session_refuses_writes(source_url: str) -> None:
    with connect_source(source_url) as src, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        src.execute("CREATE TABLE nope (id int)")
